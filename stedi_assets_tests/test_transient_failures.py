"""Retries for what a retry can fix, and for nothing else: a step whose storage did not answer
runs again and completes; a failed check fails the step at once."""

from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import dagster as dg
import pytest
from botocore.config import Config
from pyspark.sql import SparkSession

from stedi_assets.publishing import transient
from stedi_assets.storage import delta_tables
from stedi_assets_tests.lakes import HAND_MADE_TIMES, free_port, materialize_lake, read_rows


def error_of(action: Any) -> BaseException:
    with pytest.raises(Exception) as caught:
        action()
    return caught.value


@pytest.mark.slow
def test_storage_that_does_not_answer_is_transient_and_a_failed_check_is_not(
    spark: SparkSession,
) -> None:
    """Real errors: boto3 and Spark's s3a connector against a port nothing listens on."""
    dead = f"http://127.0.0.1:{free_port()}"
    client = boto3.client(
        "s3", endpoint_url=dead, config=Config(retries={"max_attempts": 1}, connect_timeout=2)
    )
    assert transient.is_transient(error_of(lambda: client.list_buckets()))
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    hadoop.set("fs.s3a.bucket.stedi-unreachable.endpoint", dead)
    unreachable = error_of(
        lambda: spark.read.format("delta").load("s3a://stedi-unreachable/lake/t").collect()
    )
    assert transient.is_transient(unreachable), unreachable

    assert not transient.is_transient(dg.Failure("customer_trusted was not published"))
    assert not transient.is_transient(ValueError("STEDI_CONSENT_POLICY='x' is not one of"))


@pytest.mark.slow
def test_a_step_whose_storage_failed_once_runs_again_and_completes(
    spark: SparkSession,
    lake_root: Path,
    write_landing: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_landing(
        "customer",
        "c.json",
        [
            {
                "email": "a@x.com",
                "serialNumber": "S1",
                "lastUpdateDate": 1,
                "shareWithResearchAsOfDate": 1,
            }
        ],
    )
    write_landing(
        "accelerometer",
        "a.json",
        [{"user": "a@x.com", "timestamp": 5, "x": 1.0, "y": 1.0, "z": 1.0}],
    )
    write_landing(
        "step_trainer",
        "s.json",
        [{"sensorReadingTime": 5, "serialNumber": "S1", "distanceFromObject": 3}],
    )
    monkeypatch.setattr(transient, "SECONDS_BETWEEN_RETRIES", 0)
    latest_commit, failed = delta_tables.latest_commit, []

    def unreachable_once(spark: SparkSession, uri: str) -> Any:
        if uri.endswith("accelerometer/trusted") and not failed:
            failed.append(uri)
            raise ConnectionRefusedError(f"[Errno 111] Connection refused: {uri}")
        return latest_commit(spark, uri)

    with mock.patch.object(delta_tables, "latest_commit", unreachable_once):
        result = materialize_lake(lake_root, spark, **HAND_MADE_TIMES)
    assert result.success and failed
    restarted = [
        event.step_key
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_RESTARTED
    ]
    assert restarted == ["accelerometer_trusted"]
    assert read_rows(spark, lake_root / "step_trainer/curated") == [(5, "S1", 3, 1.0, 1.0, 1.0)]


def test_a_failed_check_fails_the_step_without_a_retry(
    spark: SparkSession, lake_root: Path, write_landing: Any
) -> None:
    """A blocking check that fails would fail again: the step fails once, and the tables
    downstream of it do not run."""
    write_landing(
        "customer", "c.json", [{"email": "a@x.com", "serialNumber": "S1", "lastUpdateDate": 1}]
    )
    write_landing("accelerometer", "a.json", [])
    write_landing("step_trainer", "s.json", [])
    with mock.patch(
        "stedi_assets.tables.checks.privacy_check",
        lambda table, violations, count: dg.AssetCheckResult(
            check_name=table.table.privacy_check, passed=False
        ),
    ):
        result = materialize_lake(lake_root, spark, **HAND_MADE_TIMES)
    assert not result.success
    events = [
        event.event_type for event in result.all_events if event.step_key == "customer_trusted"
    ]
    assert dg.DagsterEventType.STEP_FAILURE in events
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events
