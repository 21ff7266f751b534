"""End to end on generated data: the documented command materializes every asset, and every
table, quarantine and accounting equals what an independent pure-Python implementation of the
contract computes from the same files. A second run with no new files changes nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.catalog.sql import run_query
from stedi_assets.lake import LakeLayout
from stedi_assets.settings import PROJECT_ROOT
from stedi_assets_tests.conftest import CliLake, SharedServer
from stedi_assets_tests.lakes import (
    TABLE_PATHS,
    assert_lake_matches,
    dagster_home,
    files_containing,
    lake_with,
    materialize_lake,
    table_rows,
)
from stedi_assets_tests.reference_contract import compute_expected

pytestmark = pytest.mark.slow  # starts processes

TRUSTED = ("customer_trusted", "accelerometer_trusted", "step_trainer_trusted")


def latest_accounting(instance: dg.DagsterInstance, table: str) -> dict[str, int]:
    event = instance.get_latest_materialization_event(dg.AssetKey(table))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    return {key: value.value for key, value in metadata.items() if isinstance(value.value, int)}


def test_the_documented_command_builds_the_contract(cli_lake: CliLake, spark: SparkSession) -> None:
    lake, dagster_home = cli_lake.lake, cli_lake.home
    expected = compute_expected(lake, "since_consent")
    assert_lake_matches(spark, lake, expected)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for table in TRUSTED:
            accounting = latest_accounting(instance, table)
            wanted = expected.accounting[table]
            assert {key: accounting[key] for key in wanted} == wanted, table


def test_no_personal_data_reaches_logs_or_metadata(
    cli_lake: CliLake, shared_server: SharedServer
) -> None:
    """The run's event log and run storage (every metadata value, check result and log line),
    its captured compute logs, the command's own output and the Spark output of the run (on
    the Spark Connect server it was a client of, which logs each plan it is sent) hold no
    customer's email or name."""
    lake, dagster_home = cli_lake.lake, cli_lake.home
    emails, names = set(), set()
    for path in (lake / "customer" / "landing").glob("*.json"):
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                emails.add(str(record.get("email", "")).strip())
                names.add(str(record.get("customerName", "")).strip())
    personal = {value for value in emails | names if len(value) >= 6}
    assert len(personal) > 200
    assert any(dagster_home.rglob("*.db")) and (dagster_home / "cli-output.log").stat().st_size
    assert files_containing(dagster_home, personal) == {}
    assert shared_server.log.stat().st_size
    assert files_containing(shared_server.log.parent, personal) == {}


def test_a_second_run_with_no_new_files_gives_the_same_tables(
    cli_lake: CliLake, spark: SparkSession
) -> None:
    lake = cli_lake.lake
    before = {table: table_rows(spark, lake, table) for table in TABLE_PATHS}
    assert materialize_lake(lake, spark).success
    after = {table: table_rows(spark, lake, table) for table in TABLE_PATHS}
    assert after == before and all(before.values())


def test_dg_launch_under_the_any_time_policy_matches_the_reference(
    generated_landing: Path, spark: SparkSession, connect_endpoint: str, tmp_path: Path
) -> None:
    """`dg launch --assets '*'` (the dg CLI) runs the same graph; the policy comes from the
    environment."""
    lake = lake_with(generated_landing, tmp_path / "lake")
    launched = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "launch", "--assets", "*"],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "STEDI_LAKE": str(lake),
            "STEDI_CONSENT_POLICY": "any_time",
            "DAGSTER_HOME": str(dagster_home(tmp_path / "home")),
            "STEDI_SPARK_REMOTE": connect_endpoint,
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    expected = compute_expected(lake, "any_time")
    assert_lake_matches(spark, lake, expected)
    since_consent = compute_expected(lake, "since_consent")
    assert len(expected.accelerometer_trusted) > len(since_consent.accelerometer_trusted)


def test_sql_over_the_lake_by_asset_name(cli_lake: CliLake, spark: SparkSession) -> None:
    lake = cli_lake.lake
    expected = compute_expected(lake, "since_consent")
    query = (
        "select (select count(*) from machine_learning_curated),"
        " (select count(*) from customer_quarantine),"
        " (select count(distinct email) from customer_landing)"
    )
    (row,) = run_query(spark, LakeLayout(str(lake)), query).collect()
    assert row[0] == len(expected.machine_learning_curated)
    assert row[1] == len(expected.quarantined["customer"])
    assert row[2] > len(expected.customer_trusted)


def test_make_sql_prints_the_answer(cli_lake: CliLake, connect_endpoint: str) -> None:
    lake = cli_lake.lake
    expected = compute_expected(lake, "since_consent")
    completed = subprocess.run(
        ["make", "--no-print-directory", "sql", "Q=select count(*) as n from customers_curated"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "STEDI_LAKE": str(lake), "STEDI_SPARK_REMOTE": connect_endpoint},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"|{len(expected.customers_curated)}" in completed.stdout.replace(" ", "")
