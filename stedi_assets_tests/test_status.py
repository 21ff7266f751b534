"""`stedi status`, `stedi quarantine`, `stedi --version` and `stedi materialize`'s options, on a
hand-made lake built by a real run: what each says must be what the next run does."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.settings import DEFAULT_INCREMENT_MIN_ROWS
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import FolderLandingStore
from stedi_assets.tables.personal_data import MASK, masked_line
from stedi_assets.tools.quarantine import quarantine_report
from stedi_assets.tools.status import FULL_BUILD, INCREMENT, REUSE, lake_status
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    lake_for_tests,
    materialize_lake,
    stedi_command,
)

CUSTOMERS = [
    {"customerName": "Ann Lee", "email": "ann@x.com", "phone": "8015550101",
     "birthDay": "1990-01-01", "serialNumber": "S1", "registrationDate": 1,
     "lastUpdateDate": 1, "shareWithResearchAsOfDate": 1},
    {"email": "bob@x.com", "serialNumber": "S2", "lastUpdateDate": 1},
]  # fmt: skip
ENVIRONMENT = {"STEDI_EARLIEST_TIME": "1970-01-01", "STEDI_FULL_REFRESH": "0"}


def reading(user: str, timestamp: int) -> dict:
    return {"user": user, "timestamp": timestamp, "x": 1.0, "y": 1.0, "z": 1.0}


def status_of(lake_root: Path) -> dict[str, tuple[str, str]]:
    lake = lake_for_tests(lake_root, **HAND_MADE_TIMES)
    now_ms = int(time.time() * 1000)
    statuses = lake_status(lake, FolderLandingStore(lake_root), now_ms)
    return {status.name: (status.next_run, status.reason) for status in statuses}


def write(lake_root: Path, source: str, name: str, lines: list[object]) -> None:
    folder = lake_root / source / "landing"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (folder / name).write_text(text)


def rebuilt_flags(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Per asset of a run, whether it rebuilt its table (else it grew it, or reused it)."""
    return {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata[
            "rebuilt"
        ].value
        for event in result.get_asset_materialization_events()
    }


def build_lake(spark: SparkSession, lake_root: Path) -> Path:
    write(lake_root, "customer", "c.json", [*CUSTOMERS, "not json at all, from ann@x.com"])
    write(
        lake_root, "accelerometer", "a.json", [reading("ann@x.com", 10), reading("bob@x.com", 10)]
    )
    write(
        lake_root,
        "step_trainer",
        "s.json",
        [{"sensorReadingTime": 10, "serialNumber": "S1", "distanceFromObject": 3}],
    )
    assert status_of(lake_root)["customer_trusted"] == (FULL_BUILD, "not published yet")
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    return lake_root


@pytest.fixture(scope="module")
def built_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One lake for this module's tests, in their order: those that read it, then those that
    change it (a new file and a run; then a rewritten file)."""
    return build_lake(spark, tmp_path_factory.mktemp("status") / "lake")


def test_status_sees_changed_settings(built_lake: Path) -> None:
    lake = lake_for_tests(built_lake, earliest_time="1970-01-02")
    statuses = lake_status(lake, FolderLandingStore(built_lake), int(time.time() * 1000))
    assert statuses[0].next_run == FULL_BUILD and "setting changed" in statuses[0].reason


def test_quarantine_counts_by_reason_and_masks_personal_fields(
    built_lake: Path, spark: SparkSession
) -> None:
    shown = stedi_command("quarantine", "customer", STEDI_LAKE=str(built_lake), **ENVIRONMENT)
    assert shown.returncode == 0, shown.stderr
    assert "customer: 1 quarantined lines, 1 reasons" in shown.stdout
    assert re.search(r"^\s+1  not valid JSON$", shown.stdout, re.MULTILINE), shown.stdout
    assert "c.json:3" in shown.stdout and "ann@x.com" not in shown.stdout
    layout = LakeLayout(str(built_lake))
    unmasked = quarantine_report(spark, layout, ["customer"], show_personal=True)
    assert any("ann@x.com" in line for line in unmasked)
    nothing = quarantine_report(spark, layout, ["accelerometer"], reason="no such reason")
    assert nothing == ["accelerometer: 0 quarantined lines, 0 reasons"]


def test_status_says_what_the_next_run_does_and_the_run_does_it(
    built_lake: Path, spark: SparkSession
) -> None:
    assert {what for what, _ in status_of(built_lake).values()} == {REUSE}

    write(built_lake, "accelerometer", "a2.json", [reading("ann@x.com", 20)])
    status = status_of(built_lake)
    assert status["accelerometer_trusted"] == (INCREMENT, "1 new landing file")
    assert status["customer_trusted"][0] == REUSE
    assert status["step_trainer_trusted"][0] == REUSE  # it reads no phone reading
    assert status["customers_curated"][0] == INCREMENT
    assert "accelerometer_trusted" in status["customers_curated"][1]
    assert "accelerometer_trusted" in status["machine_learning_curated"][1]

    # The CLI says the same, and the run then does what it said.
    shown = stedi_command("status", STEDI_LAKE=str(built_lake), **ENVIRONMENT)
    assert shown.returncode == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.startswith("accelerometer_")]
    assert re.search(r"\s0\s+1\s.*increment: 1 new landing file$", line), line
    rebuilt = rebuilt_flags(materialize_lake(built_lake, spark, **HAND_MADE_TIMES))
    assert rebuilt["accelerometer_trusted"] is False
    assert {what for what, _ in status_of(built_lake).values()} == {REUSE}


def test_a_small_table_is_rebuilt_rather_than_incremented_and_status_says_so(
    built_lake: Path, spark: SparkSession
) -> None:
    """Below `STEDI_INCREMENT_MIN_ROWS` (its default here; the suite's other runs set 0), a new
    file rebuilds the table it lands in and the tables downstream, as the status said."""
    small = {**HAND_MADE_TIMES, "increment_min_rows": DEFAULT_INCREMENT_MIN_ROWS}
    write(built_lake, "accelerometer", "a-small.json", [reading("ann@x.com", 25)])
    lake = lake_for_tests(built_lake, **small)
    status = {
        found.name: (found.next_run, found.reason)
        for found in lake_status(lake, FolderLandingStore(built_lake), int(time.time() * 1000))
    }
    rows = "rows, fewer than STEDI_INCREMENT_MIN_ROWS (100,000): a rebuild costs less"
    what, why = status["accelerometer_trusted"]
    assert what == FULL_BUILD and re.fullmatch(
        r"\d+ " + re.escape(rows + " than an increment"), why
    ), why
    what, why = status["machine_learning_curated"]
    assert what == FULL_BUILD and why.startswith(
        "what accelerometer_trusted, customers_curated change, if rows change; "
    ), why
    assert status["customer_trusted"][0] == REUSE

    rebuilt = rebuilt_flags(materialize_lake(built_lake, spark, **small))
    assert rebuilt["accelerometer_trusted"] is True
    assert rebuilt["machine_learning_curated"] is True
    assert {what for what, _ in status_of(built_lake).values()} == {REUSE}


def test_a_threshold_between_two_tables_increments_the_larger_and_rebuilds_the_smaller(
    built_lake: Path, spark: SparkSession
) -> None:
    """The threshold is each table's own: with it between the phone readings' and the training
    pairs' row counts, a new phone-reading file grows accelerometer_trusted by an increment
    and rebuilds machine_learning_curated, as the status says."""
    now_ms = int(time.time() * 1000)
    published = lake_status(lake_for_tests(built_lake), FolderLandingStore(built_lake), now_ms)
    rows = {found.name: found.rows or 0 for found in published}
    between = {**HAND_MADE_TIMES, "increment_min_rows": rows["machine_learning_curated"] + 1}
    assert rows["accelerometer_trusted"] >= between["increment_min_rows"]
    write(built_lake, "accelerometer", "a-between.json", [reading("ann@x.com", 27)])
    lake = lake_for_tests(built_lake, **between)
    status = {
        found.name: found.next_run
        for found in lake_status(lake, FolderLandingStore(built_lake), now_ms)
    }
    assert status["accelerometer_trusted"] == INCREMENT
    assert status["machine_learning_curated"] == FULL_BUILD

    rebuilt = rebuilt_flags(materialize_lake(built_lake, spark, **between))
    assert rebuilt["accelerometer_trusted"] is False
    assert rebuilt["machine_learning_curated"] is True


def test_on_a_warm_spark_server_a_small_reading_table_grows_by_an_increment(
    built_lake: Path, spark: SparkSession
) -> None:
    """With the default threshold on a Spark Connect server (`make ui`), a new phone-reading
    file grows accelerometer_trusted by an increment, small as it is, and still rebuilds the
    small machine_learning_curated, as the status says."""
    warm = {
        **HAND_MADE_TIMES,
        "increment_min_rows": DEFAULT_INCREMENT_MIN_ROWS,
        "reading_increments_at_any_size": True,
    }
    write(built_lake, "accelerometer", "a-warm.json", [reading("ann@x.com", 29)])
    lake = lake_for_tests(built_lake, **warm)
    status = {
        found.name: found.next_run
        for found in lake_status(lake, FolderLandingStore(built_lake), int(time.time() * 1000))
    }
    assert status["accelerometer_trusted"] == INCREMENT
    assert status["machine_learning_curated"] == FULL_BUILD

    rebuilt = rebuilt_flags(materialize_lake(built_lake, spark, **warm))
    assert rebuilt["accelerometer_trusted"] is False
    assert rebuilt["machine_learning_curated"] is True
    assert {what for what, _ in status_of(built_lake).values()} == {REUSE}


def test_on_a_warm_spark_server_a_consent_change_alone_rebuilds_a_small_reading_table(
    built_lake: Path, spark: SparkSession
) -> None:
    """On a Spark Connect server only new landing files of its own repay a small reading table's
    increment (it parses them alone): when only consents change, accelerometer_trusted is
    rebuilt like every small table, as the status says."""
    warm = {
        **HAND_MADE_TIMES,
        "increment_min_rows": DEFAULT_INCREMENT_MIN_ROWS,
        "reading_increments_at_any_size": True,
    }
    bob_consents = {**CUSTOMERS[0], "customerName": "Bob Ray", "email": "bob@x.com",
                    "serialNumber": "S2", "lastUpdateDate": 2}  # fmt: skip
    write(built_lake, "customer", "c-bob.json", [bob_consents])
    lake = lake_for_tests(built_lake, **warm)
    found = lake_status(lake, FolderLandingStore(built_lake), int(time.time() * 1000))
    status = {table.name: (table.next_run, table.rows) for table in found}
    assert status["customer_trusted"][0] == FULL_BUILD
    what, rows_before = status["accelerometer_trusted"]
    assert what == FULL_BUILD

    result = materialize_lake(built_lake, spark, **warm)
    assert rebuilt_flags(result)["accelerometer_trusted"] is True
    published = result.asset_materializations_for_node("accelerometer_trusted")[0]
    assert published.metadata["dagster/row_count"].value == (rows_before or 0) + 1  # bob's reading
    assert {what for what, _ in status_of(built_lake).values()} == {REUSE}


def test_status_names_the_landing_file_that_forces_a_full_build(built_lake: Path) -> None:
    write(built_lake, "customer", "c.json", [*CUSTOMERS[:1]])  # bob's record is gone
    what, why = status_of(built_lake)["customer_trusted"]
    assert what == FULL_BUILD and why.endswith("changed or is gone: customer/landing/c.json")


def test_a_masked_line_keeps_its_shape_and_loses_every_personal_value() -> None:
    line = (
        '{"customerName":"Ann Lee","email":"Ann@x.com","phone":8015550101,'
        '"birthDay":"1990-01-01","serialNumber":"S1","registrationDate":1}'
    )
    masked = masked_line(line)
    for value in ("Ann", "x.com", "8015550101", "1990", "S1"):
        assert value not in masked
    assert masked.count(MASK) == 5 and '"registrationDate":1' in masked
    assert masked_line('truncated {"user": "ann@ex\\u0061mple.com') == 'truncated {"user": "•••"'


def test_version_and_the_materialize_options_are_documented() -> None:
    version = stedi_command("--version")
    assert version.returncode == 0 and re.fullmatch(r"stedi \d+\.\d+\.\d+\n", version.stdout)
    options = stedi_command("materialize", "--help").stdout
    assert "--select" in options and "--full-refresh" in options


def versions(lake_root: Path) -> dict[str, int | None]:
    statuses = lake_status(
        lake_for_tests(lake_root, **HAND_MADE_TIMES),
        FolderLandingStore(lake_root),
        int(time.time() * 1000),
    )
    return {status.name: status.version for status in statuses}


@pytest.mark.slow
def test_materialize_a_selection_and_a_full_refresh(
    spark: SparkSession, connect_endpoint: str, tmp_path: Path
) -> None:
    built_lake = build_lake(spark, tmp_path / "lake")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    environment = {
        **ENVIRONMENT,
        "STEDI_LAKE": str(built_lake),
        "DAGSTER_HOME": str(home),
        "STEDI_SPARK_REMOTE": connect_endpoint,
    }
    before = versions(built_lake)
    only = stedi_command("materialize", "--select", "customer_trusted", **environment)
    assert only.returncode == 0, only.stdout[-2000:]
    shown = [line.split()[0] for line in only.stdout.splitlines() if "checks:" in line]
    assert shown == ["customer_trusted"], only.stdout
    assert versions(built_lake) == before  # nothing changed: reused, no new version

    refreshed = stedi_command(
        "materialize", "--select", "customer_trusted", "--full-refresh", **environment
    )
    assert refreshed.returncode == 0, refreshed.stdout[-2000:]
    after = versions(built_lake)
    assert after["customer_trusted"] == (before["customer_trusted"] or 0) + 1
    assert {name: v for name, v in after.items() if name != "customer_trusted"} == {
        name: v for name, v in before.items() if name != "customer_trusted"
    }


def test_status_sees_a_run_stopped_between_a_companion_and_its_table(
    built_lake: Path, spark: SparkSession
) -> None:
    """A commit to the parsed readings that does not carry accelerometer_trusted's marker (what a
    run killed after that write and before the table leaves) makes the next run a full build,
    though a new file alone would be an increment."""
    write(built_lake, "accelerometer", "a3.json", [reading("ann@x.com", 30)])
    assert status_of(built_lake)["accelerometer_trusted"][0] == INCREMENT
    parsed = str(built_lake / "accelerometer" / "parsed")
    rows = spark.read.format("delta").load(parsed).limit(1)
    rows.write.format("delta").mode("append").option("userMetadata", "a killed run").save(parsed)
    what, why = status_of(built_lake)["accelerometer_trusted"]
    assert (what, why) == (
        FULL_BUILD,
        "a run stopped after writing accelerometer/parsed but before the table",
    )
