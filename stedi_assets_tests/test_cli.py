"""`stedi`, the one command: every subcommand has help, wrong arguments are named, and
`stedi materialize` tells a person one line per asset while the event log goes to a file."""

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets_tests.conftest import CliLake
from stedi_assets_tests.lakes import TABLE_PATHS, assert_lake_matches, dagster_home
from stedi_assets_tests.lakes import stedi_command as stedi
from stedi_assets_tests.reference_contract import compute_expected

SUBCOMMANDS = [
    "sample-data",
    "materialize",
    "status",
    "quarantine",
    "summary",
    "sql",
    "erase",
    "connect-server",
    "ui",
    "demo-s3",
]


def test_every_subcommand_has_help() -> None:
    listing = stedi("--help")
    assert listing.returncode == 0
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{name}\b", listing.stdout, re.MULTILINE), name
        assert stedi(name, "--help").returncode == 0, name


def test_wrong_arguments_are_named(tmp_path: Path) -> None:
    few = stedi("sample-data", "--customers", "3", "--out", str(tmp_path))
    assert few.returncode == 2
    assert "stedi sample-data: error: customers must be at least 20" in few.stderr
    remote = stedi("sample-data", "--out", "s3://bucket/lake")
    assert remote.returncode == 2 and "must be a local folder" in remote.stderr
    no_home = stedi("materialize", DAGSTER_HOME="")
    assert no_home.returncode == 2 and "set DAGSTER_HOME" in no_home.stderr


@pytest.mark.slow
def test_materialize_prints_a_line_per_asset_and_logs_every_event(
    cli_lake: CliLake, spark: SparkSession
) -> None:
    """The session's `cli_lake` was built by `stedi materialize` (a Spark Connect client)."""
    lake, home, run = cli_lake
    lines = run.stdout.splitlines()
    assert len(lines) <= 8  # what the terminal shows; a few hundred lines go to the log
    for table, path in TABLE_PATHS.items():
        rows = spark.read.format("delta").load(str(lake / path)).count()
        assert rows > 0
        (line,) = [line for line in lines if line.startswith(table + " ")]
        # Trusted tables: schema, privacy, accounting and "no erased lines" pass; the sample
        # data's malformed lines make the quarantine check warn. Curated: schema and privacy.
        checks = "4 passed, 1 warned" if table.endswith("_trusted") else "2 passed"
        assert re.search(rf"\b{rows:,} rows\s+\d+\.\d s  checks: {checks}$", line), line
    log = (home / "materialize.log").read_text()
    assert str(home / "materialize.log") in lines[0]
    assert log.count("ASSET_MATERIALIZATION") >= 5 and "STEP_SUCCESS" in log

    summary = stedi("summary", STEDI_LAKE=str(lake), DAGSTER_HOME=str(home))
    assert summary.returncode == 0 and "machine_learning_curated" in summary.stdout


@pytest.mark.slow
def test_a_failed_asset_is_shown_with_its_cause(connect_endpoint: str, tmp_path: Path) -> None:
    home = dagster_home(tmp_path / "home")
    run = stedi(
        "materialize", STEDI_LAKE=str(tmp_path / "empty"), DAGSTER_HOME=str(home),
        STEDI_SPARK_REMOTE=connect_endpoint,
    )  # fmt: skip
    assert run.returncode != 0
    assert re.search(r"^customer_trusted\s+FAILED after", run.stdout, re.MULTILINE), run.stdout
    assert "No landing folder at" in run.stdout and "check STEDI_LAKE" in run.stdout
    assert "The run failed" in run.stdout


@pytest.mark.parametrize("subcommand", [["erase", "ann@example.com", "--print-hash"]])
def test_erase_needs_the_salt(subcommand: list[str]) -> None:
    run = stedi(*subcommand, STEDI_ERASURE_SALT="")
    assert run.returncode == 2 and "STEDI_ERASURE_SALT" in run.stderr


def test_make_demos_command_on_a_small_lake_builds_the_contract(
    spark: SparkSession, tmp_path: Path
) -> None:
    """`make demo`'s commands, end to end in processes of their own with a Spark of their own:
    `stedi sample-data`, then `stedi materialize`; every table equals the reference's."""
    lake, home = tmp_path / "lake", dagster_home(tmp_path / "home")
    environment = {"STEDI_LAKE": str(lake), "DAGSTER_HOME": str(home), "STEDI_SPARK_REMOTE": ""}
    sample = stedi("sample-data", "--customers", "40", "--seed", "11", **environment)
    assert sample.returncode == 0, sample.stderr
    run = stedi("materialize", **environment)
    assert run.returncode == 0, run.stdout[-3000:]
    assert len([line for line in run.stdout.splitlines() if "checks:" in line]) == 5
    assert_lake_matches(spark, lake, compute_expected(lake, "since_consent"))
