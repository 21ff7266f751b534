"""Crash safety: a run killed with SIGKILL while it writes a large table leaves readers on the
previous version, with no duplicate or missing rows, and the next run completes normally."""

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets.tools.cli import materialize_command
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.lakes import dagster_home, materialize_lake, read_rows
from stedi_assets_tests.reference_contract import compute_expected

pytestmark = pytest.mark.slow  # starts processes

READINGS = "accelerometer/trusted"


def data_files(table: Path) -> set[str]:
    return {path.name for path in table.glob("*.parquet")}


def add_shifted_copies(lake: Path, copies: int) -> None:
    """More readings: each landing file again, every reading `k` ms later, for k = 1..copies."""
    landing = lake / "accelerometer" / "landing"
    for path in sorted(landing.glob("accelerometer-*.json")):
        records = []
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("timestamp"), int):
                records.append(record)
        for k in range(1, copies + 1):
            shifted = (json.dumps({**r, "timestamp": r["timestamp"] + k}) for r in records)
            (landing / f"shifted-{k}-{path.name}").write_text("\n".join(shifted) + "\n")


def test_a_run_killed_mid_write_leaves_the_previous_version(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, customers=100, seed=9)
    assert materialize_lake(lake, spark).success
    table = lake / READINGS
    before = read_rows(spark, table)
    committed = data_files(table)
    versions = sorted(p.name for p in (table / "_delta_log").glob("*.json"))
    add_shifted_copies(lake, copies=4)

    environment = {
        **os.environ,
        "STEDI_LAKE": str(lake),
        "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster_home")),
        "STEDI_SPARK_DRIVER_MEMORY": "1g",
        # Many small output files: the write lasts long enough to be caught in the middle.
        "STEDI_SPARK_SHUFFLE_PARTITIONS": "64",
    }
    run = subprocess.Popen(
        materialize_command(),
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not data_files(table) - committed:  # the new version's first data file
            assert run.poll() is None, "the run ended before it wrote the table"
            assert time.monotonic() < deadline, "the run never started writing the table"
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL
    assert sorted(p.name for p in (table / "_delta_log").glob("*.json")) == versions
    assert data_files(table) - committed, "the kill should land after some files were written"
    assert read_rows(spark, table) == before

    assert materialize_lake(lake, spark).success
    expected = compute_expected(lake)
    after = read_rows(spark, table)
    assert Counter(after) == Counter(expected.accelerometer_trusted)
    assert len(after) > len(before)
