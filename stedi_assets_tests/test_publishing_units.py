"""Unit tests of the publishing flow's parts, without a run: which upstream commits allow an
increment, the verdicts of the checks, the sums an increment carries forward; and, on tiny
DataFrames, the keys whose attribution changed and the training pairs an increment adds."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import dagster as dg
import pytest
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.accounting import Accounting
from stedi_assets.contract.changes import changed_keys, new_training_pairs
from stedi_assets.contract.readings import build_machine_learning_curated
from stedi_assets.publishing import verify
from stedi_assets.publishing.build_inputs import BuildRecord, companion_marker
from stedi_assets.publishing.change import Change
from stedi_assets.publishing.increment_plan import (
    FEW_NEW_BYTES,
    Increment,
    UpstreamChange,
    change_from_commits,
    rebuild_costs_less,
    same_rows,
    upstream_change,
)
from stedi_assets.publishing.metadata import ReadingsPerCustomer
from stedi_assets.publishing.publication import Publication
from stedi_assets.settings import increment_min_rows
from stedi_assets.storage import delta_tables
from stedi_assets.storage.delta_tables import Commit
from stedi_assets.storage.landing_store import LandingFile


def record(kind: str = "increment", added: int = 0, removed: int = 0, **fields) -> BuildRecord:
    fields.setdefault("first_future_time_ms", None)
    return BuildRecord(
        inputs="i", row_count=10, checks={}, kind=kind, added_rows=added, removed_rows=removed,
        **fields,
    )  # fmt: skip


def commit(version: int, operation: str, metadata: str | None) -> Commit:
    return Commit(version, operation, metadata)


def increment_commit(version: int, added: int = 0, removed: int = 0) -> Commit:
    return commit(version, "MERGE", record("increment", added, removed).to_json())


# Which upstream commits allow an increment


def test_increments_that_only_added_rows_are_additions_only() -> None:
    change = change_from_commits(3, 5, [increment_commit(4, 7), increment_commit(5, 2)])
    assert change is not None
    assert (change.increments_only, change.additions_only, change.rows_added) == (True, True, 9)
    assert change.few_added and change.changed_rows


def test_an_increment_that_removed_rows_is_not_additions_only() -> None:
    change = change_from_commits(3, 5, [increment_commit(4, 7), increment_commit(5, 1, 1)])
    assert change is not None and change.increments_only and not change.additions_only


def test_a_rebuild_upstream_is_not_an_increment() -> None:
    change = change_from_commits(3, 4, [commit(4, "WRITE", record("build", 10).to_json())])
    assert change is not None and not change.increments_only and not change.additions_only


def test_a_rebuild_whose_content_digest_is_unchanged_holds_the_same_rows() -> None:
    built = commit(3, "WRITE", record("build", 10, content="abc").to_json())
    again = commit(5, "WRITE", record("build", 10, content="abc").to_json())
    other = commit(5, "WRITE", record("build", 10, content="abd").to_json())
    unrecorded = commit(5, "WRITE", record("build", 10).to_json())
    assert same_rows(built, again)
    assert not same_rows(built, other) and not same_rows(built, unrecorded)
    assert not same_rows(commit(3, "WRITE", None), commit(5, "WRITE", None))


def test_an_upstream_table_rebuilt_with_the_same_rows_did_not_change(
    spark: SparkSession, tmp_path
) -> None:
    """A table rebuilt with the rows it held (its record's content digest unchanged) is no
    change to the tables that read it: their increment judges nothing again; other rows are
    one, and a version the log no longer holds leaves the commits after it."""
    uri = str(tmp_path / "customers_curated")
    rows = spark.createDataFrame([("ann@x.com", 1)], "email string, shareWithResearchAsOfDate long")
    for content in ("same", "same", "other"):
        delta_tables.overwrite(rows, uri, record("build", 1, content=content).to_json())

    def read(since: int, upto: int) -> list[Commit] | None:
        return delta_tables.commits_since(spark, uri, since, upto)

    unchanged = upstream_change(read, 0, 1)
    assert unchanged is not None and not unchanged.changed_rows
    changed = upstream_change(read, 1, 2)
    assert changed is not None and changed.changed_rows
    (tmp_path / "customers_curated/_delta_log/00000000000000000000.json").unlink()
    after_first = upstream_change(read, 0, 2)
    assert after_first is not None and after_first.changed_rows
    assert upstream_change(read, 2, 1) is not None  # a version now below the one read


def test_a_commit_of_another_writer_forbids_an_increment() -> None:
    """An erasure's rewrite carries no record: what it removed cannot be read as a change."""
    assert change_from_commits(3, 5, [increment_commit(4, 1), commit(5, "DELETE", None)]) is None


def test_a_companion_marker_is_this_projects_own_write() -> None:
    marked = commit(4, "WRITE", companion_marker("fingerprint"))
    change = change_from_commits(3, 4, [marked])
    assert change is not None and not change.increments_only


def test_a_vacuum_after_a_commit_between_forbids_an_increment() -> None:
    """The vacuum may have deleted the files the versions between read."""
    commits = [increment_commit(4, 1), commit(5, "VACUUM START", None)]
    assert change_from_commits(3, 5, commits) is None


def test_a_vacuum_before_any_commit_and_data_neutral_commits_change_nothing() -> None:
    commits = [
        commit(4, "VACUUM START", None),
        commit(5, "VACUUM END", None),
        commit(6, "SET TBLPROPERTIES", None),
        commit(7, "OPTIMIZE", None),
    ]
    change = change_from_commits(3, 7, commits)
    assert change is not None and change.increments_only and not change.changed_rows


# The verdicts and what an increment carries forward


def test_a_table_below_the_threshold_is_rebuilt_and_zero_increments_every_table() -> None:
    assert rebuild_costs_less(10, 11)
    assert not rebuild_costs_less(10, 10)
    assert not rebuild_costs_less(10, 0)


@pytest.mark.parametrize(("value", "error"), [("-1", "is negative"), ("many", "whole number")])
def test_a_wrong_threshold_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str, error: str
) -> None:
    monkeypatch.setenv("STEDI_INCREMENT_MIN_ROWS", value)
    with pytest.raises(ValueError, match=f"STEDI_INCREMENT_MIN_ROWS.*{error}"):
        increment_min_rows()


def check(name: str, passed: bool, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, passed=passed, severity=severity)


def verdict(*results: dg.AssetCheckResult) -> verify.Verdict:
    return verify.Verdict(
        results=list(results), row_count=1, added_count=1, removed_count=0, content_sums=None,
        first_future_time_ms=None, accounting=None, preview=dg.MetadataValue.md(""),
    )  # fmt: skip


def test_only_a_failed_error_check_blocks_the_write() -> None:
    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    assert (
        verdict(check("schema", True, error), check("quarantine", False, warn)).blocking_failures
        == []
    )
    blocked = verdict(check("schema", False, error), check("privacy", True, error))
    assert blocked.blocking_failures == ["schema"]


def an_increment(**fields) -> Increment:
    return Increment(version=4, record=record(**fields), files=[], upstream={}, versions_now={})


def test_a_build_carries_its_own_sums_and_an_increment_adds_and_subtracts() -> None:
    added, removed = [Decimal(5), Decimal(-3)], [Decimal(2), Decimal(1)]
    assert verify._content_sums(None, added, removed) == added
    earlier = an_increment(content_sums=["100", "200"])
    assert verify._content_sums(earlier, added, removed) == [Decimal(103), Decimal(196)]
    assert verify._content_sums(an_increment(), added, removed) is None  # no sums recorded


def test_an_increment_counts_the_published_lines_with_its_new_ones() -> None:
    class Build:
        accounting = Accounting(lines_read=5, blank_lines=1, counts={"kept": 3, "quarantined": 1})

    published = {"lines_read": 10, "blank_lines": 2, "kept": 6, "quarantined": 2}
    total = verify._accounting(Build(), an_increment(accounting=published))  # type: ignore[arg-type]
    assert total == Accounting(15, 3, {"kept": 9, "quarantined": 3})
    assert verify._accounting(Build(), None) == Build.accounting  # type: ignore[arg-type]
    assert verify._accounting(None, None) is None


def test_the_earliest_future_time_includes_the_published_builds() -> None:
    answers = {"future_0": (300,), "future_1": (None,), "content": (1, 2)}
    assert verify._first_future_time(answers, None) == 300  # type: ignore[arg-type]
    assert verify._first_future_time(answers, an_increment(first_future_time_ms=200)) == 200  # type: ignore[arg-type]
    assert verify._first_future_time({}, None) is None


# On tiny DataFrames


def test_only_an_increment_adding_a_few_new_files_records_grows_the_published_charts(
    spark: SparkSession,
) -> None:
    """The published chart counts are changed by the added rows only when those are all the
    increment changes and few: otherwise the chart is counted over the whole table."""
    published = spark.createDataFrame([("ann",), ("bob",)], "user string")
    added = spark.createDataFrame([("ann",)], "user string")
    counts = {"readings_per_customer": [2, 0, 0, 0, 0, 0]}
    charts = {"readings_per_customer": ReadingsPerCustomer("user")}
    publication = Publication(added, lambda rows: rows.limit(0), charts=charts)

    def base(increment: Increment | None, removed_keys: DataFrame | None = None) -> object:
        change = (
            Change(added_rows=added)
            if increment is None
            else Change(added, published, ["user"], increment, removed_keys)
        )
        return verify._charts(publication, change)["readings_per_customer"].base

    small, large = LandingFile("a", 10, "f"), LandingFile("b", FEW_NEW_BYTES + 1, "f")
    grows = Increment(4, record(charts=counts), [small], {}, {})
    assert base(grows) == counts["readings_per_customer"]
    assert base(None) is None  # a build
    assert base(dataclasses.replace(grows, record=record())) is None  # no counts recorded
    assert base(dataclasses.replace(grows, files=[small, large])) is None  # many new records
    customers = UpstreamChange(1, 2, increments_only=True, additions_only=False)
    assert base(dataclasses.replace(grows, upstream={"customer/trusted": customers})) is None
    assert base(grows, removed_keys=added) is None  # rows replaced


def test_changed_keys_are_those_whose_row_differs_or_exists_on_one_side(
    spark: SparkSession,
) -> None:
    before = spark.createDataFrame(
        [("ann", 1, None), ("bob", 2, 5), ("cat", 3, 7)], "email string, a int, b int"
    )
    after = spark.createDataFrame(
        [("ann", 1, None), ("bob", 2, 6), ("dan", 4, 8)], "email string, a int, b int"
    )
    assert sorted(row[0] for row in changed_keys(before, after, "email").collect()) == [
        "bob",
        "cat",
        "dan",
    ]


@pytest.mark.parametrize("devices_added", [True, False])
def test_the_pairs_an_increment_adds_are_the_full_builds_new_pairs(
    spark: SparkSession, devices_added: bool
) -> None:
    """New device readings pair with every phone reading; earlier device readings with the
    new phone readings: together, the pairs a full build of everything has and the earlier
    build had not."""
    devices = "sensorReadingTime long, serialNumber string, distanceFromObject int"
    phones = "user string, timestamp long, x double, y double, z double"
    earlier_devices = spark.createDataFrame([(10, "S1", 1), (20, "S1", 2), (10, "S2", 3)], devices)
    added_devices = spark.createDataFrame(
        [(30, "S1", 4), (20, "S2", 5)] if devices_added else [], devices
    )
    earlier_phones = spark.createDataFrame(
        [("ann", 10, 0.1, 0.2, 0.3), ("bob", 10, 0.4, 0.5, 0.6)], phones
    )
    added_phones = spark.createDataFrame(
        [("ann", 20, 1.0, 1.0, 1.0), ("ann", 30, 2.0, 2.0, 2.0), ("bob", 20, 3.0, 3.0, 3.0)],
        phones,
    )
    customers = spark.createDataFrame(
        [("ann", "S1"), ("bob", "S2")], "email string, serialNumber string"
    )
    all_phones = earlier_phones.unionByName(added_phones)

    added = new_training_pairs(earlier_devices, added_devices, all_phones, added_phones, customers)

    everything = build_machine_learning_curated(
        earlier_devices.unionByName(added_devices), all_phones, customers
    )
    before = build_machine_learning_curated(earlier_devices, earlier_phones, customers)
    expected = everything.exceptAll(before)
    assert expected.count() > 0
    assert sorted(added.collect()) == sorted(expected.collect())
