"""A run rebuilds only the tables whose inputs changed, and the result is always the reference's.

Each publish commit records what the table was built from (`build_inputs`); these tests change
the landing, the settings and the clock between runs and check which tables got a new Delta
version, and that every table and quarantine is what the independent reference computes."""

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.contract import landing
from stedi_assets.publishing.build_inputs import (
    BuildInputs,
    BuildRecord,
    added_files,
    reusable,
    secret_digest,
)
from stedi_assets.publishing.flow import FULL_REFRESH_TAG
from stedi_assets.settings import ConsentPolicy
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tools.progress import RunNarrator
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.conftest import Clock
from stedi_assets_tests.erased_lake import ALL_TABLES
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    assert_lake_matches,
    materialize_lake,
    read_rows,
)
from stedi_assets_tests.reference_contract import compute_expected

PHONE_READINGS = {
    "accelerometer/trusted",
    "accelerometer/quarantine",
    "accelerometer/parsed",
    "customer/curated",
}
DEVICE_READINGS = {
    "step_trainer/trusted",
    "step_trainer/quarantine",
    "step_trainer/parsed",
    "step_trainer/curated",
}
"""What a change to each kind of readings rebuilds (phone readings decide which customers are
curated, and the device readings' owners are curated customers)."""

ANY_TIME = ConsentPolicy.ANY_TIME

# Pure logic: what a record says and when it may be reused.

INPUTS = BuildInputs(
    landing={"customer": [LandingFile("customer/landing/c.json", 10, "1:1:1")]},
    upstream={"erasure/log": None},
    settings={"consent_policy": "since_consent", "erasure_salt": secret_digest("pepper")},
)


def record(inputs: BuildInputs = INPUTS, first_future_time_ms: int | None = None) -> BuildRecord:
    return BuildRecord(
        inputs=inputs.fingerprint(),
        first_future_time_ms=first_future_time_ms,
        row_count=3,
        checks={"schema": (True, "ERROR"), "no_quarantined_lines": (False, "WARN")},
        accounting={"lines_read": 4, "kept": 3, "quarantined": 1},
    )


def test_a_record_reads_back_from_its_commit_metadata() -> None:
    assert BuildRecord.from_json(record().to_json()) == record()
    assert BuildRecord.from_json(record(first_future_time_ms=5).to_json()) == record(
        first_future_time_ms=5
    )


@pytest.mark.parametrize("text", [None, "", "not json", "[]", '{"format": "other/9"}', "{}"])
def test_commit_metadata_that_is_no_record_means_rebuild(text: str | None) -> None:
    assert BuildRecord.from_json(text) is None


def test_a_build_is_reused_only_for_the_same_inputs() -> None:
    same = BuildInputs(INPUTS.landing, INPUTS.upstream, dict(INPUTS.settings))
    assert reusable(record(), same, latest_time_ms=0)
    rewritten = {"customer": [LandingFile("customer/landing/c.json", 10, "1:1:2")]}
    changed = [
        BuildInputs(rewritten, INPUTS.upstream, INPUTS.settings),
        BuildInputs({"customer": []}, INPUTS.upstream, INPUTS.settings),
        BuildInputs(INPUTS.landing, {"erasure/log": 0}, INPUTS.settings),
        BuildInputs(INPUTS.landing, INPUTS.upstream, {**INPUTS.settings, "consent_policy": "x"}),
        BuildInputs(
            INPUTS.landing,
            INPUTS.upstream,
            {**INPUTS.settings, "erasure_salt": secret_digest("other pepper")},
        ),
    ]
    for inputs in changed:
        assert not reusable(record(), inputs, latest_time_ms=0), inputs


def test_a_build_that_met_a_future_time_is_reused_only_until_that_time_is_plausible() -> None:
    future = record(first_future_time_ms=1_000)
    assert reusable(future, INPUTS, latest_time_ms=999)
    assert not reusable(future, INPUTS, latest_time_ms=1_000)


def test_a_record_holds_no_secret() -> None:
    assert "pepper" not in record().to_json()
    assert secret_digest("pepper") != secret_digest("pepper2") != secret_digest(None)


def phone_file(name: str, size: int = 10, fingerprint: str = "1:1:1") -> LandingFile:
    return LandingFile(f"accelerometer/landing/{name}", size, fingerprint)


PHONE_INPUTS = BuildInputs(
    landing={"accelerometer": [phone_file("a.json")]},
    upstream={"customer/trusted": "digest-of-customers"},
    settings=INPUTS.settings,
)


def phone_record(first_future_time_ms: int | None = None) -> BuildRecord:
    """The record of a reading table built from `PHONE_INPUTS`."""
    files = PHONE_INPUTS.landing["accelerometer"]
    return dataclasses.replace(
        record(PHONE_INPUTS, first_future_time_ms),
        increment_base=PHONE_INPUTS.increment_base("accelerometer"),
        increment_files=[[f.key, f.size, f.fingerprint] for f in files],
    )


def with_phone_files(*files: LandingFile, **changes: Any) -> BuildInputs:
    return dataclasses.replace(PHONE_INPUTS, landing={"accelerometer": list(files)}, **changes)


def test_an_increment_is_the_files_added_when_the_settings_and_earlier_files_are_the_same() -> None:
    a, b, c = phone_file("a.json"), phone_file("b.json"), phone_file("c.json")
    published = phone_record()
    assert BuildRecord.from_json(published.to_json()) == published
    assert added_files(published, with_phone_files(a, c, b), "accelerometer", 0) == [b, c]
    assert added_files(published, with_phone_files(a), "accelerometer", 0) == []  # none added
    # What changed upstream is read by the increment itself (`increment_plan.plan_increment`).
    changed_upstream = with_phone_files(a, b, upstream={"customer/trusted": "other customers"})
    assert added_files(published, changed_upstream, "accelerometer", 0) == [b]
    not_increments = [
        with_phone_files(b),  # a deleted
        with_phone_files(phone_file("a.json", size=11), b),  # a rewritten
        with_phone_files(phone_file("a.json", fingerprint="1:1:2"), b),  # same size, changed
        with_phone_files(a, b, settings={**INPUTS.settings, "consent_policy": "any_time"}),
    ]
    for inputs in not_increments:
        assert added_files(published, inputs, "accelerometer", 0) is None, inputs
    # A line the build met dated ahead becomes plausible: rebuild, not increment.
    ahead = phone_record(first_future_time_ms=1_000)
    assert added_files(ahead, with_phone_files(a, b), "accelerometer", 999) == [b]
    assert added_files(ahead, with_phone_files(a, b), "accelerometer", 1_000) is None
    # A record of a table that is not built by increments.
    assert added_files(record(PHONE_INPUTS), with_phone_files(a, b), "accelerometer", 0) is None


# Runs against a real lake.


def table_versions(lake: Path) -> dict[str, int]:
    """The latest Delta version of every zone table and quarantine."""
    return {
        path: max(int(commit.stem) for commit in (lake / path / "_delta_log").glob("*.json"))
        for path in ALL_TABLES
    }


def rebuilt_since(before: dict[str, int], lake: Path) -> set[str]:
    after = table_versions(lake)
    assert all(after[path] - before[path] in (0, 1) for path in ALL_TABLES), (before, after)
    return {path for path in ALL_TABLES if after[path] != before[path]}


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def shifted_copy(lake: Path, source: str, time_field: str, name: str) -> None:
    """A new landing file of `source`: the records of its first file whose `time_field` is a
    whole number, each a millisecond later (new readings of the same people and devices)."""
    first = lake / source / "landing" / f"{source}-0001.json"
    records = [
        {**record, time_field: record[time_field] + 1}
        for record in json_objects(first)
        if type(record.get(time_field)) is int
    ]
    assert records
    write_lines(first.with_name(name), records)


def new_landing_files(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    """Per table built by an increment in the run, how many new landing files it read."""
    counts = {}
    for event in result.get_asset_materialization_events():
        added = event.materialization.metadata.get("new_landing_files")
        if added is not None:
            counts[event.asset_key.to_user_string()] = added.value
    return counts


def row_changes(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, int]]:
    """Per table the run changed by an increment (not rebuilt), its rows added and removed."""
    changes = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if metadata["rebuilt"].value is False and "rows_removed" in metadata:
            changes[event.asset_key.to_user_string()] = {
                name: metadata[name].value for name in ("rows_added", "rows_removed")
            }
    return changes


def upstream_changes(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dict:
    """Per table the run changed by an increment, the upstream tables it found changed (as
    its log names them)."""
    said = "; upstream tables changed: "
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return {
        message.split(":")[0]: message.split(said)[1] for message in messages if said in message
    }


READING_AND_PAIR_TABLES = (
    "accelerometer_trusted",
    "step_trainer_trusted",
    "machine_learning_curated",
)


def keys_replaced(result: dg.ExecuteInProcessResult, table: str) -> int:
    """How many keys (users, serial numbers) an increment of `table` replaced the rows of."""
    (event,) = result.asset_materializations_for_node(table)
    return event.metadata["keys_replaced"].value


def json_objects(path: Path) -> list[dict]:
    """The lines of a sample landing file that are JSON objects (its faults skipped)."""
    objects = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


@contextlib.contextmanager
def landing_files_read() -> Iterator[list[str]]:
    """The names of the landing files the runs inside have Spark read: every read of landing
    lines goes through `contract.landing.read_landing_lines`, with the files by path."""
    read: list[str] = []
    reader = landing.read_landing_lines

    def recorded(spark: SparkSession, files: list[str]) -> Any:
        read.extend(Path(file).name for file in files)
        return reader(spark, files)

    with mock.patch.object(landing, "read_landing_lines", recorded):
        yield read


def assert_nothing_is_rebuilt_or_read(
    spark: SparkSession, lake: Path, instance: dg.DagsterInstance
) -> None:
    """A run with no landing change adds no Delta version and reads no landing file. It
    reports each table's published version: its checks as published, its preview, a line per
    asset saying so."""
    versions = table_versions(lake)
    tables = {path: read_rows(spark, lake / path) for path in ALL_TABLES}
    with landing_files_read() as read:
        result = materialize_lake(lake, spark, instance=instance)

    assert result.success
    assert read == []
    assert table_versions(lake) == versions
    assert {path: read_rows(spark, lake / path) for path in ALL_TABLES} == tables
    materializations = result.get_asset_materialization_events()
    assert len(materializations) == 5
    for event in materializations:
        metadata = event.materialization.metadata
        assert metadata["rebuilt"].value is False
        assert "preview" in metadata  # carried over from the published version's event
    narrated = list(RunNarrator().lines(instance.all_logs(result.run_id)))
    assert len(narrated) == 5
    assert all(line.endswith("(unchanged: the published version)") for line in narrated)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 5 * 2 + 3 * 3  # every check of every table, as published
    assert all(e.passed or e.severity == dg.AssetCheckSeverity.WARN for e in evaluations)


@pytest.mark.slow
def test_each_change_rebuilds_only_what_it_feeds_and_equals_the_reference(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, customers=30, seed=11)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_lake(lake, spark, instance=instance).success
    assert_lake_matches(spark, lake, compute_expected(lake))
    assert_nothing_is_rebuilt_or_read(spark, lake, instance)

    # New device readings: the customer and phone tables are kept, and of the device files
    # only the new one is read.
    before = table_versions(lake)
    shifted_copy(lake, "step_trainer", "sensorReadingTime", "step_trainer-0100.json")
    with landing_files_read() as read:
        result = materialize_lake(lake, spark)
    assert result.success
    assert read == ["step_trainer-0100.json"]
    assert rebuilt_since(before, lake) == DEVICE_READINGS
    assert new_landing_files(result) == {"step_trainer_trusted": 1}
    assert_lake_matches(spark, lake, compute_expected(lake))

    # New phone readings of the same people: of the phone files only the new one is read;
    # the curated customers grow by no row, so the device readings are kept, and the pairs
    # read only the phone readings' changes.
    before = table_versions(lake)
    shifted_copy(lake, "accelerometer", "timestamp", "accelerometer-0100.json")
    with landing_files_read() as read:
        result = materialize_lake(lake, spark, instance=instance)
    assert result.success
    assert read == ["accelerometer-0100.json"]
    assert rebuilt_since(before, lake) == PHONE_READINGS | {"step_trainer/curated"}
    assert new_landing_files(result) == {"accelerometer_trusted": 1}
    assert upstream_changes(instance, result)["machine_learning_curated"] == (
        "accelerometer/trusted"
    )
    assert_lake_matches(spark, lake, compute_expected(lake))

    # The same phone file delivered again: every line a duplicate, no row added; the table's
    # rows are the same, so nothing that reads it is rebuilt.
    before = table_versions(lake)
    rows = read_rows(spark, lake / "accelerometer/trusted")
    copy = lake / "accelerometer/landing/accelerometer-0101.json"
    copy.write_bytes((lake / "accelerometer/landing/accelerometer-0100.json").read_bytes())
    result = materialize_lake(lake, spark)
    assert result.success
    assert new_landing_files(result) == {"accelerometer_trusted": 1}
    assert read_rows(spark, lake / "accelerometer/trusted") == rows
    assert rebuilt_since(before, lake) == PHONE_READINGS - {"customer/curated"}
    assert_lake_matches(spark, lake, compute_expected(lake))

    # A customer file rewritten in place, every consent in it withdrawn: the customer tables
    # are rebuilt (they are small); the reading tables and the pairs replace only the affected
    # customers' rows.
    before = table_versions(lake)
    readings_before = read_rows(spark, lake / "accelerometer/trusted")
    customers = lake / "customer/landing/customer-0001.json"
    withdrawn = [{**c, "shareWithResearchAsOfDate": None} for c in json_objects(customers)]
    write_lines(customers, withdrawn)
    result = materialize_lake(lake, spark, instance=instance)
    assert result.success
    assert rebuilt_since(before, lake) == set(ALL_TABLES)
    changes = row_changes(result)
    assert set(changes) == {
        "accelerometer_trusted",
        "step_trainer_trusted",
        "machine_learning_curated",
    }, changes
    readings_after = read_rows(spark, lake / "accelerometer/trusted")
    gone = len(set(readings_before) - set(readings_after))
    assert 0 < gone <= changes["accelerometer_trusted"]["rows_removed"] < len(readings_before)
    assert keys_replaced(result, "accelerometer_trusted") > 0
    narrated = {
        line.split()[0]: line for line in RunNarrator().lines(instance.all_logs(result.run_id))
    }
    removed = changes["accelerometer_trusted"]["rows_removed"]
    assert narrated["accelerometer_trusted"].endswith(
        f"(increment: {changes['accelerometer_trusted']['rows_added']:,} rows added, "
        f"{removed:,} removed)"
    )
    assert_lake_matches(spark, lake, compute_expected(lake))

    # A new customer file: the same customers grant consent again in later records. Only the
    # new file is read; every table replaces the rows of the customers it names.
    regranted = lake / "customer/landing/customer-0100.json"
    write_lines(
        regranted,
        [
            {
                **c,
                "lastUpdateDate": c["lastUpdateDate"] + 1,
                "shareWithResearchAsOfDate": c["lastUpdateDate"] + 1,
            }
            for c in withdrawn
            if type(c.get("lastUpdateDate")) is int
        ],
    )
    with landing_files_read() as read:
        result = materialize_lake(lake, spark)
    assert result.success
    assert read == [regranted.name]
    changes = row_changes(result)
    assert {table: n for table, n in new_landing_files(result).items() if n} == {
        "customer_trusted": 1
    }
    assert changes["customer_trusted"]["rows_added"] > 0
    assert changes["accelerometer_trusted"]["rows_added"] >= gone
    # They had no reading or pair left: the reading tables and the pairs replace no key's rows.
    assert {table: keys_replaced(result, table) for table in READING_AND_PAIR_TABLES} == (
        dict.fromkeys(READING_AND_PAIR_TABLES, 0)
    )
    assert_lake_matches(spark, lake, compute_expected(lake))

    # Another consent policy: the reading tables follow it.
    before = table_versions(lake)
    assert materialize_lake(lake, spark, policy=ANY_TIME).success
    assert rebuilt_since(before, lake) == set(ALL_TABLES)  # a setting of every table
    assert_lake_matches(spark, lake, compute_expected(lake, policy="any_time"))

    # A full refresh, asked for by the setting (`STEDI_FULL_REFRESH`) or by a run tag.
    before = table_versions(lake)
    assert materialize_lake(lake, spark, policy=ANY_TIME, full_refresh=True).success
    assert rebuilt_since(before, lake) == set(ALL_TABLES)
    before = table_versions(lake)
    tags = {FULL_REFRESH_TAG: "true"}
    assert materialize_lake(lake, spark, policy=ANY_TIME, tags=tags).success
    assert rebuilt_since(before, lake) == set(ALL_TABLES)
    assert_lake_matches(spark, lake, compute_expected(lake, policy="any_time"))
    before = table_versions(lake)
    assert materialize_lake(lake, spark, policy=ANY_TIME).success
    assert rebuilt_since(before, lake) == set()


@pytest.mark.slow
def test_a_reading_dated_ahead_is_rebuilt_once_the_clock_reaches_it(
    spark: SparkSession, lake_root: Path, clock: Clock
) -> None:
    """A phone reading and a device reading 26 hours ahead (the allowed future is 24) are
    quarantined, still an hour later, and kept two hours later, when they pair. Customers
    have no future time: they are not rebuilt."""
    ahead = clock.now_ms + 26 * 3_600_000
    customer = {
        "email": "ann@x.com",
        "serialNumber": "S1",
        "lastUpdateDate": 1,
        "shareWithResearchAsOfDate": 1,
    }
    reading = {"user": "ann@x.com", "timestamp": ahead, "x": 1.0, "y": 1.0, "z": 1.0}
    for source, record_ in [("customer", customer), ("accelerometer", reading)]:
        (lake_root / source / "landing").mkdir(parents=True)
        write_lines(lake_root / source / "landing" / f"{source}.json", [record_])
    device = {"sensorReadingTime": ahead, "serialNumber": "S1", "distanceFromObject": 3}
    (lake_root / "step_trainer/landing").mkdir(parents=True)
    write_lines(lake_root / "step_trainer/landing/s.json", [device])

    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert read_rows(spark, lake_root / "accelerometer/trusted") == []
    before = table_versions(lake_root)
    clock.now_ms += 3_600_000  # the reading is now 25 hours ahead
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert rebuilt_since(before, lake_root) == set()

    clock.now_ms += 3_600_000
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert rebuilt_since(before, lake_root) == PHONE_READINGS | DEVICE_READINGS
    assert read_rows(spark, lake_root / "accelerometer/trusted") == [
        ("ann@x.com", ahead, 1.0, 1.0, 1.0)
    ]
    assert read_rows(spark, lake_root / "step_trainer/curated") == [(ahead, "S1", 3, 1.0, 1.0, 1.0)]
