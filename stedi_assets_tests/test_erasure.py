"""Erasure: a customer's request removes them from every zone, and after the vacuum no file
under the lake root (landing, tables, Delta logs, checkpoints) holds their email or their
device's serial number; every other customer's rows are unchanged; a later record of theirs
counts as no consent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession

from stedi_assets import defs
from stedi_assets.erasure.matching import email_hash
from stedi_assets.resources import LakeResource
from stedi_assets.sample_data import write_sample_landing
from stedi_assets_tests.lakes import (
    TABLE_PATHS,
    files_containing,
    materialize_lake,
    read_rows,
    spark_config_for_tests,
)

SALT = "test-pepper-0001"
ALL_TABLES = [
    *TABLE_PATHS.values(),
    "customer/quarantine",
    "accelerometer/quarantine",
    "step_trainer/quarantine",
]


def erase(lake: Path, email: str, vacuum_now: bool = True) -> dg.ExecuteInProcessResult:
    config = {"email_hash": email_hash(email, SALT), "vacuum_now": vacuum_now}
    return (
        defs()
        .get_job_def("erase_customer_job")
        .execute_in_process(
            run_config={"ops": {"erase_customer": {"config": config}}},
            resources={
                "pyspark": PySparkResource(spark_config=spark_config_for_tests()),
                "lake": LakeResource(root=str(lake), erasure_salt=SALT),
                "s3": S3Resource(),
            },
        )
    )


def mentions(row: tuple, email: str, serial: str) -> bool:
    text = " ".join(str(value) for value in row).lower()
    return email in text or serial.lower() in text


def serial_carriers(lake: Path) -> dict[str, set[str]]:
    """Each serial number of customer landing, with the (normalised) emails carrying it."""
    carriers: dict[str, set[str]] = {}
    for path in (lake / "customer/landing").iterdir():
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("serialNumber"), str):
                email = str(record.get("email", "")).strip().lower()
                carriers.setdefault(record["serialNumber"], set()).add(email)
    return carriers


@pytest.fixture(scope="module")
def erased(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory):
    """A generated lake, materialized, then one consenting customer with their own device and
    rows in every table erased (vacuum at once). Returns lake, email, serial, tables before."""
    lake = tmp_path_factory.mktemp("erasure") / "lake"
    write_sample_landing(lake, customers=60, seed=3)
    assert materialize_lake(lake, spark, erasure_salt=SALT).success
    pairs = spark.read.format("delta").load(str(lake / "step_trainer/curated"))
    curated = spark.read.format("delta").load(str(lake / "customer/curated"))
    carriers = serial_carriers(lake)
    email, serial = next(
        (row["email"], row["serialNumber"])
        for row in curated.join(pairs.select("serialNumber").distinct(), "serialNumber")
        .orderBy("email")
        .collect()
        if carriers[row["serialNumber"]] == {row["email"]} and row["email"].isascii()
    )
    before = {path: read_rows(spark, lake / path) for path in ALL_TABLES}
    assert all(any(mentions(r, email, serial) for r in before[p]) for p in TABLE_PATHS.values())
    result = erase(lake, email)
    assert result.success
    return lake, email, serial, before, result


def test_no_byte_of_the_customer_is_left_under_the_lake_root(erased) -> None:
    lake, email, serial, _, _ = erased
    assert files_containing(lake, [email, serial]) == {}
    assert any((lake / "customer/trusted/_delta_log").iterdir())


def test_other_customers_rows_are_unchanged(erased, spark: SparkSession) -> None:
    lake, email, serial, before, _ = erased
    for path in ALL_TABLES:
        expected = [row for row in before[path] if not mentions(row, email, serial)]
        assert read_rows(spark, lake / path) == expected, path
        assert expected, path


def test_the_log_and_the_run_hold_a_hash_not_the_email(erased, spark: SparkSession) -> None:
    lake, email, _, _, result = erased
    (entry,) = spark.read.format("delta").load(str(lake / "erasure/log")).collect()
    assert entry["email_hash"] == email_hash(email, SALT)
    assert entry["landing_lines_removed"] > 0 and entry["table_rows_removed"] > 0
    assert email not in json.dumps(result.dagster_run.run_config).lower()


def test_a_later_record_of_an_erased_customer_counts_as_no_consent(
    erased, spark: SparkSession
) -> None:
    lake, email, serial, _, _ = erased
    record = {
        "customerName": "Back Again",
        "email": email.upper(),
        "serialNumber": serial,
        "lastUpdateDate": 1_700_000_000_000,
        "shareWithResearchAsOfDate": 1_600_000_000_000,
    }
    (lake / "customer/landing/later.json").write_text(json.dumps(record) + "\n")
    assert materialize_lake(lake, spark, erasure_salt=SALT).success
    emails = {row[0] for row in read_rows(spark, lake / "customer/trusted", ["email"])}
    assert email not in emails and emails
    assert not any(
        r[0] == serial for r in read_rows(spark, lake / "step_trainer/trusted", ["serialNumber"])
    )


def test_the_cli_prints_the_hash_the_job_takes() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "stedi_assets", "erase", " Ann@X.com ", "--print-hash"],
        env={**os.environ, "STEDI_ERASURE_SALT": SALT},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == email_hash("ann@x.com", SALT)
