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
from pyspark.errors import ParseException
from pyspark.sql import SparkSession

from stedi_assets.settings import PROJECT_ROOT
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.tools.sql import WritingQuery, run_query
from stedi_assets_tests.conftest import CliLake, SharedServer
from stedi_assets_tests.lakes import (
    TABLE_PATHS,
    assert_lake_matches,
    dagster_home,
    files_containing,
    lake_with,
    materialize_lake,
    stedi_command,
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


def test_sql_opens_the_lake_read_only_unless_asked(cli_lake: CliLake, spark: SparkSession) -> None:
    """An analyst's query cannot change a table: a statement that writes is refused, one that
    hides a write inside a query fails to parse, and the table keeps its version."""
    lake = LakeLayout(str(cli_lake.lake))
    before = delta_tables.latest_version(spark, lake.uri("customer/trusted"))
    with pytest.raises(WritingQuery, match="read-only; add --write"):
        run_query(spark, lake, "delete from customer_trusted")
    with pytest.raises(ParseException):
        run_query(spark, lake, "with x as (select 1) insert into customer_trusted select * from x")
    refused = stedi_command("sql", "DROP TABLE customer_trusted", STEDI_LAKE=str(cli_lake.lake))
    assert refused.returncode == 2 and "add --write" in refused.stderr
    assert delta_tables.latest_version(spark, lake.uri("customer/trusted")) == before


def test_what_a_run_writes_is_its_owners_alone(cli_lake: CliLake) -> None:
    """Tables, quarantines, parsed records and their logs, and the instance's storage: no
    permission for the group or others, whatever the umask of the shell that ran `make`."""
    tables = [  # <source>/<table>/…: the test wrote the landing folders
        path
        for path in cli_lake.lake.rglob("*")
        if len(parts := path.relative_to(cli_lake.lake).parts) > 1 and parts[1] != "landing"
    ]
    instance = [  # what the run recorded (the test made the folder and its dagster.yaml)
        path
        for path in cli_lake.home.rglob("*")
        if path.name not in ("dagster.yaml", "cli-output.log")
    ]
    written = tables + instance
    assert any(path.name.endswith(".parquet") for path in written)
    assert any(path.suffix == ".db" for path in written)
    shared = {
        str(path): oct(path.stat().st_mode) for path in written if path.stat().st_mode & 0o077
    }
    assert shared == {}
