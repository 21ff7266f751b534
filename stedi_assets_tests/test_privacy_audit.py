"""A run checks the rows it changes: those it adds and those of the keys whose consent or owner
changed, not every row of a large table. The scheduled privacy audit checks every row of every
zone table, and fails loudly."""

import dataclasses
from pathlib import Path

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame, SparkSession

import stedi_assets.builds.trusted as trusted_builds
from stedi_assets import defs
from stedi_assets.orchestration.resources import s3_resource
from stedi_assets_tests.conftest import LandingWriter
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    lake_for_tests,
    materialize_lake,
    read_rows,
    spark_config_for_tests,
)

ANN = {"email": "ann@x.com", "serialNumber": "S1", "lastUpdateDate": 1}
CAT = {"email": "cat@x.com", "serialNumber": "S3", "lastUpdateDate": 1}
BOB = {"email": "bob@x.com", "serialNumber": "S2", "lastUpdateDate": 1}


def reading(user: str, timestamp: int) -> dict:
    return {"user": user, "timestamp": timestamp, "x": 1.0, "y": 1.0, "z": 1.0}


def device_reading(serial: str) -> dict:
    return {"sensorReadingTime": 10, "serialNumber": serial, "distanceFromObject": 3}


def consenting(customer: dict) -> dict:
    return {**customer, "shareWithResearchAsOfDate": 1}


@pytest.fixture
def published_lake(spark: SparkSession, lake_root: Path, write_landing: LandingWriter) -> Path:
    """Ann and Cat consent, Bob does not; each has phone and device readings."""
    write_landing("customer", "c1.json", [consenting(ANN), consenting(CAT), BOB])
    phone_readings = [(user, 10) for user in ("ann@x.com", "cat@x.com", "bob@x.com")]
    phone_readings.append(("cat@x.com", 20))
    write_landing("accelerometer", "a.json", [reading(*args) for args in phone_readings])
    write_landing("step_trainer", "s.json", [device_reading(s) for s in ("S1", "S2", "S3")])
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    return lake_root


def withdraw_cats_consent(write_landing: LandingWriter) -> None:
    write_landing("customer", "c2.json", [{**CAT, "lastUpdateDate": 2}])


def audit(lake_root: Path) -> dg.ExecuteInProcessResult:
    return (
        defs()
        .get_job_def("privacy_audit_job")
        .execute_in_process(
            resources={
                "pyspark": PySparkResource(spark_config=spark_config_for_tests()),
                "lake": lake_for_tests(lake_root, **HAND_MADE_TIMES),
                "s3": s3_resource(),
            },
            raise_on_error=False,
        )
    )


def audit_results(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    """Each table's audit, as the observation of its asset shows it."""
    return {
        event.asset_key.to_user_string(): {
            name: value.value
            for name, value in event.asset_observation_data.asset_observation.metadata.items()
        }
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    }


def test_a_key_bug_that_keeps_a_withdrawn_customers_rows_is_found_by_the_audit(
    spark: SparkSession,
    published_lake: Path,
    write_landing: LandingWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean = audit(published_lake)
    assert clean.success
    results = audit_results(clean)
    assert len(results) == 5
    assert all(r["privacy_audit"] == "passed" for r in results.values())

    # A deliberate bug: the increment sees no consent change, so it neither removes Cat's rows
    # nor judges them again. The run checks only what it changed, and publishes.
    original = trusted_builds.changed_keys
    monkeypatch.setattr(trusted_builds, "changed_keys", lambda *args: original(*args).limit(0))
    withdraw_cats_consent(write_landing)
    assert materialize_lake(published_lake, spark, **HAND_MADE_TIMES).success
    phone_users = {row[0] for row in read_rows(spark, published_lake / "accelerometer/trusted")}
    assert phone_users == {"ann@x.com", "cat@x.com"}

    found = audit(published_lake)
    assert not found.success
    results = audit_results(found)
    violating = {name: result["violating_rows"] for name, result in results.items()}
    assert violating == {
        "customer_trusted": 0,
        "accelerometer_trusted": 2,
        "customers_curated": 0,
        "step_trainer_trusted": 1,
        "machine_learning_curated": 0,
    }
    assert results["accelerometer_trusted"]["privacy_audit"] == "failed"
    examples = results["accelerometer_trusted"]["examples"]
    assert sorted(example["timestamp"] for example in examples) == [10, 20]
    assert all("cat" not in str(example) for example in examples)  # hashed
    (failure,) = [event for event in found.all_events if event.is_step_failure]
    message = failure.step_failure_data.error.message
    assert (
        "accelerometer_trusted (2 rows)" in message and "step_trainer_trusted (1 rows)" in message
    )


def test_the_rows_of_a_key_whose_consent_changed_are_checked_again(
    spark: SparkSession,
    published_lake: Path,
    write_landing: LandingWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deliberate bug: the increment judges Cat again but keeps her published rows."""
    original = trusted_builds._with_reattributed_records

    def keeping_the_rows(*args: object) -> trusted_builds.ReadingIncrement:
        judged = original(*args)
        kept: DataFrame = judged.replaced_keys.limit(0)
        return dataclasses.replace(judged, replaced_keys=kept)

    monkeypatch.setattr(trusted_builds, "_with_reattributed_records", keeping_the_rows)
    withdraw_cats_consent(write_landing)
    result = materialize_lake(published_lake, spark, **HAND_MADE_TIMES)

    assert not result.success
    failed = {event.step_key for event in result.all_events if event.is_step_failure}
    assert "accelerometer_trusted" in failed
    checks = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "accelerometer_trusted"
    }
    assert checks["only_consenting_customers"].metadata["violating_rows"].value == 2
