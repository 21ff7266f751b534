"""A run rebuilds only the tables whose inputs changed, and the result is always the reference's.

Each publish commit records what the table was built from (`build_inputs`); these tests change
the landing, the settings and the clock between runs and check which tables got a new Delta
version, and that every table and quarantine is what the independent reference computes."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.build_inputs import (
    BuildInputs,
    BuildRecord,
    LandingFileEntry,
    reusable,
    secret_digest,
)
from stedi_assets.contract import plausibility
from stedi_assets.progress import RunNarrator
from stedi_assets.publishing import FULL_REFRESH_TAG
from stedi_assets.sample_data import write_sample_landing
from stedi_assets.settings import ConsentPolicy
from stedi_assets_tests.erased_lake import ALL_TABLES
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    assert_lake_matches,
    materialize_lake,
    read_rows,
)
from stedi_assets_tests.reference_contract import compute_expected

PHONE_READINGS = {"accelerometer/trusted", "accelerometer/quarantine", "customer/curated"}
DEVICE_READINGS = {"step_trainer/trusted", "step_trainer/quarantine", "step_trainer/curated"}
"""What a change to each kind of readings rebuilds (phone readings decide which customers are
curated, and the device readings' owners are curated customers)."""

ANY_TIME = ConsentPolicy.ANY_TIME

# Pure logic: what a record says and when it may be reused.

INPUTS = BuildInputs(
    landing={"customer": [LandingFileEntry("file:/lake/customer/landing/c.json", 10, 1)]},
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
    rewritten = {"customer": [LandingFileEntry("file:/lake/customer/landing/c.json", 10, 2)]}
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


def assert_nothing_is_rebuilt_or_read(
    spark: SparkSession, lake: Path, instance: dg.DagsterInstance
) -> None:
    """A run with no landing change adds no Delta version and reads no landing file: each
    file's bytes are replaced by others of the same size, its modification time put back, for
    the run (one that read them would quarantine every line). It reports each table's
    published version: its checks as published, its preview, a line per asset saying so."""
    versions = table_versions(lake)
    tables = {path: read_rows(spark, lake / path) for path in ALL_TABLES}
    originals = {}
    for path in lake.glob("*/landing/*"):
        stat = path.stat()
        originals[path] = (path.read_bytes(), stat.st_mtime_ns)
        path.write_bytes(b"!" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    result = materialize_lake(lake, spark, instance=instance)

    for path, (content, modified_ns) in originals.items():
        path.write_bytes(content)
        os.utime(path, ns=(modified_ns, modified_ns))
    assert result.success
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
    assert len(evaluations) == 5 * 2 + 3 * 2  # every check of every table, as published
    assert all(e.passed or e.severity == dg.AssetCheckSeverity.WARN for e in evaluations)


def test_each_change_rebuilds_only_what_it_feeds_and_equals_the_reference(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, customers=30, seed=11)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize_lake(lake, spark, instance=instance).success
    assert_lake_matches(spark, lake, compute_expected(lake))
    assert_nothing_is_rebuilt_or_read(spark, lake, instance)

    # New device readings: the customer and phone tables are kept.
    before = table_versions(lake)
    shifted_copy(lake, "step_trainer", "sensorReadingTime", "step_trainer-0100.json")
    assert materialize_lake(lake, spark).success
    assert rebuilt_since(before, lake) == DEVICE_READINGS
    assert_lake_matches(spark, lake, compute_expected(lake))

    # New phone readings: the customers stay.
    before = table_versions(lake)
    shifted_copy(lake, "accelerometer", "timestamp", "accelerometer-0100.json")
    assert materialize_lake(lake, spark).success
    assert rebuilt_since(before, lake) == PHONE_READINGS | DEVICE_READINGS
    assert_lake_matches(spark, lake, compute_expected(lake))

    # A customer file rewritten in place, every consent in it withdrawn: all is rebuilt.
    before = table_versions(lake)
    customers = lake / "customer/landing/customer-0001.json"
    withdrawn = [{**c, "shareWithResearchAsOfDate": None} for c in json_objects(customers)]
    write_lines(customers, withdrawn)
    assert materialize_lake(lake, spark).success
    assert rebuilt_since(before, lake) == set(ALL_TABLES)
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


def test_a_reading_dated_ahead_is_rebuilt_once_the_clock_reaches_it(
    spark: SparkSession, lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone reading and a device reading 26 hours ahead (the allowed future is 24) are
    quarantined, still an hour later, and kept two hours later, when they pair. Customers
    have no future time: they are not rebuilt."""
    now_ms = 1_800_000_000_000
    ahead = now_ms + 26 * 3_600_000
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

    clock = {"now_ms": now_ms}
    as_of = plausibility.PlausibleRanges.as_of
    monkeypatch.setattr(
        plausibility.PlausibleRanges,
        "as_of",
        classmethod(lambda cls, now_ms=None, **ranges: as_of(clock["now_ms"], **ranges)),
    )
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert read_rows(spark, lake_root / "accelerometer/trusted") == []
    before = table_versions(lake_root)
    clock["now_ms"] += 3_600_000  # the reading is now 25 hours ahead
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert rebuilt_since(before, lake_root) == set()

    clock["now_ms"] += 3_600_000
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    assert rebuilt_since(before, lake_root) == PHONE_READINGS | DEVICE_READINGS
    assert read_rows(spark, lake_root / "accelerometer/trusted") == [
        ("ann@x.com", ahead, 1.0, 1.0, 1.0)
    ]
    assert read_rows(spark, lake_root / "step_trainer/curated") == [(ahead, "S1", 3, 1.0, 1.0, 1.0)]
