"""A sample lake with one customer erased, shared by the erasure tests and the Spark Connect
test that erases the same customer through the CLI (a classic build and erasure cost a run)."""

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession

from stedi_assets import defs
from stedi_assets.erasure.matching import email_hash
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.lakes import (
    TABLE_PATHS,
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
    "accelerometer/parsed",
    "step_trainer/parsed",
    "customer/parsed",
    "customer/current",
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


class ErasedLake(NamedTuple):
    lake: Path
    pristine: Path
    """A copy of the lake's landing files as they were before the erasure."""
    email: str
    serial: str
    before: dict[str, list[tuple]]
    """Every table's and quarantine's rows (by lake path) before the erasure."""
    after: dict[str, list[tuple]]
    """The same right after it (later tests may change the lake)."""
    result: dg.ExecuteInProcessResult


def erase_a_customer(spark: SparkSession, folder: Path) -> ErasedLake:
    """A generated lake under `folder`, materialized, then one consenting customer with their
    own device and rows in every table erased (vacuum at once)."""
    lake, pristine = folder / "lake", folder / "pristine"
    write_sample_landing(lake, customers=60, seed=3)
    shutil.copytree(lake, pristine)
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
    after = {path: read_rows(spark, lake / path) for path in ALL_TABLES}
    return ErasedLake(lake, pristine, email, serial, before, after, result)
