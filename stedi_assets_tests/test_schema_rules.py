"""The zone tables' Pandera rules, counted in one pass, give Pandera's own verdict.

`checks.rule_failures` evaluates a model's rules itself (one aggregate instead of a Spark job
per rule); here Pandera's `validate` is the oracle: on rows that break each kind of rule, both
name the same rules on the same columns, and the counts are the rows that break them.
"""

import re

import pytest
from pandera.pyspark import DataFrameModel
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.tables.checks import rule_failures
from stedi_assets.tables.curated_schemas import CustomersCurated, MachineLearningCurated
from stedi_assets.tables.trusted_schemas import (
    AccelerometerTrusted,
    CustomerTrusted,
    StepTrainerTrusted,
)

CUSTOMER_SCHEMA = (
    "customerName string, email string, phone string, birthDay string, serialNumber string, "
    "registrationDate bigint, lastUpdateDate bigint, shareWithResearchAsOfDate bigint, "
    "shareWithPublicAsOfDate bigint, shareWithFriendsAsOfDate bigint"
)
READING_SCHEMA = "user string, timestamp bigint, x double, y double, z double"


def customer(email: str | None = "ann@example.com", serial: str | None = "s-1") -> tuple:
    return ("Ann", email, "555", "1990-01-01", serial, 1, 2, 3, None, None)


def pandera_verdict(model: type[DataFrameModel], rows: DataFrame) -> set[tuple[str, str]]:
    """(rule, column) of every failure Pandera's own validation reports. Where Pandera names
    the model as the column (`unique`, an extra column), ours names the columns concerned: the
    unique columns, the extra column (which Pandera gives in its message)."""
    errors = model.validate(check_obj=rows).pandera.errors
    unique_columns = ", ".join(model.to_schema().unique or [])

    def column(error: dict[str, str]) -> str:
        if error["check"] == "unique":
            return unique_columns
        if error["check"] == "column_in_schema":
            return re.match(r"column '([^']+)' not in DataFrameSchema", error["error"])[1]
        return error["column"]

    return {
        (error["check"], column(error))
        for categories in errors.values()
        for category_errors in categories.values()
        for error in category_errors
    }


def ours(model: type[DataFrameModel], rows: DataFrame) -> set[tuple[str, str]]:
    return {(failure["rule"], failure["column"]) for failure in rule_failures(model, rows)}


def test_valid_rows_break_no_rule(spark: SparkSession) -> None:
    frames = {
        CustomerTrusted: spark.createDataFrame([customer(), customer("bo@x.org")], CUSTOMER_SCHEMA),
        CustomersCurated: spark.createDataFrame([customer()], CUSTOMER_SCHEMA),
        AccelerometerTrusted: spark.createDataFrame(
            [("ann@example.com", 1, 0.1, 0.2, 0.3)], READING_SCHEMA
        ),
        StepTrainerTrusted: spark.createDataFrame(
            [(1, "s-1", 3)], "sensorReadingTime bigint, serialNumber string, distanceFromObject int"
        ),
        MachineLearningCurated: spark.createDataFrame(
            [(1, "s-1", 3, 0.1, 0.2, 0.3)],
            "sensorReadingTime bigint, serialNumber string, distanceFromObject int, "
            "x double, y double, z double",
        ),
    }
    for model, rows in frames.items():
        assert rows.count() > 0
        assert rule_failures(model, rows) == [] and pandera_verdict(model, rows) == set()


@pytest.mark.parametrize(
    "rows, expected",
    [
        # a null and an un-normalised email, and a null serial number
        (
            [customer(None), customer(" Ann@Example.com"), customer("c@x.org", None)],
            {("not_nullable", "email"): 1, ("not_nullable", "serialNumber"): 1},
        ),
        # the same customer twice
        ([customer(), customer(), customer(), customer("d@x.org")], {("unique", "email"): 2}),
    ],
    ids=["nulls-and-unnormalised-email", "duplicates"],
)
def test_broken_values_are_named_and_counted_as_pandera_names_them(
    spark: SparkSession, rows: list[tuple], expected: dict[tuple[str, str], int]
) -> None:
    frame = spark.createDataFrame(rows, CUSTOMER_SCHEMA)
    failures = rule_failures(CustomerTrusted, frame)
    counted = {(f["rule"], f["column"]): f["rows"] for f in failures}
    assert {key: counted[key] for key in expected} == expected
    assert ours(CustomerTrusted, frame) == pandera_verdict(CustomerTrusted, frame)
    if len(rows) == 3:
        (pattern,) = [rule for rule, column in counted if column == "email" and "str_" in rule]
        assert counted[(pattern, "email")] == 1  # the null email is not counted twice


def test_schema_rules_extra_missing_and_wrong_type(spark: SparkSession) -> None:
    readings = spark.createDataFrame(
        [("ann@example.com", "1", 0.1, 0.2, "leak")],
        "user string, timestamp string, x double, y double, password string",
    )
    failures = ours(AccelerometerTrusted, readings)
    assert ("column_in_schema", "password") in failures
    assert ("column_in_dataframe", "z") in failures
    assert ("unique", "user, timestamp, x, y, z") in failures  # a unique column is missing
    assert any(rule.startswith("dtype(") and column == "timestamp" for rule, column in failures)
    assert failures == pandera_verdict(AccelerometerTrusted, readings)


def test_personal_columns_in_the_machine_learning_table_fail_strictness(
    spark: SparkSession,
) -> None:
    rows = spark.createDataFrame(
        [(1, "s-1", 3, 0.1, 0.2, 0.3, "ann@example.com")],
        "sensorReadingTime bigint, serialNumber string, distanceFromObject int, "
        "x double, y double, z double, email string",
    )
    assert ours(MachineLearningCurated, rows) == {("column_in_schema", "email")}
    assert ours(MachineLearningCurated, rows) == pandera_verdict(MachineLearningCurated, rows)
