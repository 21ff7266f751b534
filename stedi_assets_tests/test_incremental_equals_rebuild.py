"""Whatever sequence of landing changes arrives, a run leaves every table and quarantine equal to
what the independent reference computes from the files as they are, under both consent policies,
and a run interrupted after any number of its table commits is completed by the next one.

A Hypothesis state machine draws the changes: new files of each source, redelivered copies,
files rewritten in place and deleted, consent withdrawn and granted, consent dates moved earlier
and later, serial numbers reassigned onto another customer's device and freed again. After each
change the project's run (which reuses the tables whose inputs did not change) is compared with
the reference, table by table, as multisets."""

import contextlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from pyspark.sql import SparkSession

from stedi_assets import delta_tables
from stedi_assets.build_inputs import BuildRecord
from stedi_assets.settings import ConsentPolicy
from stedi_assets_tests.erased_lake import SALT, erase
from stedi_assets_tests.lakes import HAND_MADE_TIMES, TABLE_PATHS, materialize_lake, table_rows
from stedi_assets_tests.reference_contract import SOURCES, compute_expected

EMAILS = ["ann@x.com", "bob@x.com", "cy@x.com"]
SERIALS = ["S1", "S2", "S3"]
TIMES = st.sampled_from([0, 10, 20, 30])
"""Few distinct values, so consent dates, readings and device readings meet often."""

customers = st.lists(
    st.fixed_dictionaries(
        {
            "email": st.sampled_from(EMAILS),
            "serialNumber": st.sampled_from(SERIALS),
            "lastUpdateDate": st.integers(1, 6),
            "shareWithResearchAsOfDate": st.none() | TIMES,
        }
    ),
    min_size=1,
    max_size=4,
)
phone_readings = st.lists(
    st.fixed_dictionaries(
        {
            "user": st.sampled_from(EMAILS),
            "timestamp": TIMES,
            "x": st.sampled_from([0.5, 1.0]),
            "y": st.just(0.0),
            "z": st.just(1.0),
        }
    ),
    min_size=1,
    max_size=5,
)
device_readings = st.lists(
    st.fixed_dictionaries(
        {
            "sensorReadingTime": TIMES,
            "serialNumber": st.sampled_from(SERIALS),
            "distanceFromObject": st.sampled_from([3, 7]),
        }
    ),
    min_size=1,
    max_size=5,
)
RECORDS = {"customer": customers, "accelerometer": phone_readings, "step_trainer": device_readings}
EXAMPLES = int(os.environ.get("STEDI_STATE_MACHINE_EXAMPLES", "2"))
"""Sequences drawn per policy: 2 in CI (a few minutes); more for a thorough run."""
MALFORMED = st.sampled_from([[], ["not json"], ['{"user": 5}']])
"""Lines a file may end with, so quarantines change too."""


def lake_matches_reference(
    spark: SparkSession, lake: Path, policy: ConsentPolicy, erased: frozenset[str]
) -> bool:
    """Every table and quarantine equals the reference's, as a multiset, and each trusted
    table's accounting (recorded with its published version) the reference's; whether any
    table has a row (a comparison of empty tables proves little)."""
    expected = compute_expected(lake, policy=policy.value, earliest_time_ms=0, erased=erased)
    for table in TABLE_PATHS:
        assert table_rows(spark, lake, table) == Counter(getattr(expected, table)), table
    for table, wanted in expected.accounting.items():
        commit = delta_tables.latest_commit(spark, str(lake / TABLE_PATHS[table]))
        record = BuildRecord.from_json(commit[1]) if commit else None
        assert record is not None and record.accounting is not None, table
        assert {key: record.accounting[key] for key in wanted} == wanted, table
    for source in SOURCES:
        quarantine = spark.read.format("delta").load(str(lake / source / "quarantine"))
        found = sorted((Path(r.source_file).name, r.line_number) for r in quarantine.collect())
        assert found == expected.quarantined[source], source
    return any(getattr(expected, table) for table in TABLE_PATHS)


class InterruptedRun(Exception):
    """Stands for a run killed between two table commits."""


@contextlib.contextmanager
def interrupted_after(commits: int) -> Iterator[None]:
    """Delta writes (a build's overwrites, an increment's appends and merges) that let
    `commits` table commits land, then stop the run."""
    landed = 0

    def until_killed(write: Callable[..., int]) -> Callable[..., int]:
        def write_until_killed(*args: Any, **kwargs: Any) -> int:
            nonlocal landed
            if landed == commits:
                raise InterruptedRun(f"the run is stopped after {commits} table commits")
            landed += 1
            return write(*args, **kwargs)

        return write_until_killed

    with (
        mock.patch.object(delta_tables, "overwrite", until_killed(delta_tables.overwrite)),
        mock.patch.object(delta_tables, "append", until_killed(delta_tables.append)),
        mock.patch.object(delta_tables, "merge", until_killed(delta_tables.merge)),
    ):
        yield


class LandingChanges(RuleBasedStateMachine):
    spark: SparkSession
    policy: ConsentPolicy
    scratch: Path

    def __init__(self) -> None:
        super().__init__()
        self.lake = Path(tempfile.mkdtemp(dir=self.scratch)) / "lake"
        self.files: dict[str, list[Path]] = {source: [] for source in RECORDS}
        self.written = 0
        self.rows_seen = False
        self.erased: frozenset[str] = frozenset()

    def write(self, source: str, records: list[dict], malformed: list[str], path: Path) -> None:
        lines = [json.dumps(record) for record in records] + malformed
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def new_file(self, source: str, records: list[dict], malformed: list[str]) -> None:
        self.written += 1
        path = self.lake / source / "landing" / f"{source}-{self.written:03}.json"
        self.write(source, records, malformed, path)
        self.files[source].append(path)

    def run(self) -> None:
        result = materialize_lake(
            self.lake, self.spark, policy=self.policy, erasure_salt=SALT, **HAND_MADE_TIMES
        )
        assert result.success
        self.rows_seen |= lake_matches_reference(self.spark, self.lake, self.policy, self.erased)

    @initialize(
        people=customers, phones=phone_readings, devices=device_readings, malformed=MALFORMED
    )
    def first_delivery(
        self, people: list[dict], phones: list[dict], devices: list[dict], malformed: list[str]
    ) -> None:
        consenting = [{**person, "shareWithResearchAsOfDate": 0} for person in people]
        self.new_file("customer", consenting, [])
        self.new_file("accelerometer", phones, malformed)
        self.new_file("step_trainer", devices, [])
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)), malformed=MALFORMED)
    def a_new_file(self, data: st.DataObject, source: str, malformed: list[str]) -> None:
        """New readings, or customer records: withdrawals, grants, moved consent dates,
        serial numbers reassigned or freed (the pools are small, so they collide)."""
        self.new_file(source, data.draw(RECORDS[source]), malformed)
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)))
    def a_file_redelivered(self, data: st.DataObject, source: str) -> None:
        original = data.draw(st.sampled_from(self.files[source]))
        self.written += 1
        copy = original.with_name(f"{source}-{self.written:03}-redelivered.json")
        shutil.copyfile(original, copy)
        self.files[source].append(copy)
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)), malformed=MALFORMED)
    def a_file_rewritten_in_place(
        self, data: st.DataObject, source: str, malformed: list[str]
    ) -> None:
        path = data.draw(st.sampled_from(self.files[source]))
        self.write(source, data.draw(RECORDS[source]), malformed, path)
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)))
    def a_file_deleted(self, data: st.DataObject, source: str) -> None:
        if len(self.files[source]) < 2:  # a source keeps one file: its folder must exist
            return
        path = data.draw(st.sampled_from(self.files[source]))
        path.unlink()
        self.files[source].remove(path)
        self.run()

    @rule(email=st.sampled_from(EMAILS), vacuum_now=st.booleans())
    def a_customer_erased(self, email: str, vacuum_now: bool) -> None:
        """An erasure (their lines and rows removed, the history vacuumed now or after the
        retention); a record of theirs landing later counts as no consent."""
        assert erase(self.lake, email, vacuum_now=vacuum_now).success
        self.erased |= {email}
        self.run()

    @rule(
        source=st.sampled_from(list(RECORDS)),
        data=st.data(),
        commits=st.integers(0, 9),
    )
    def a_run_interrupted_then_completed(
        self, source: str, data: st.DataObject, commits: int
    ) -> None:
        """A change, a run stopped after `commits` table commits (a trusted table commits its
        quarantine, a reading table then its parsed records, then its rows), then a run that
        must give the reference's tables."""
        self.new_file(source, data.draw(RECORDS[source]), [])
        with interrupted_after(commits):
            # Fails, unless the change needs no more than `commits` commits.
            materialize_lake(
                self.lake, self.spark, policy=self.policy, erasure_salt=SALT, **HAND_MADE_TIMES
            )
        self.run()

    @invariant()
    def some_table_has_had_rows(self) -> None:
        assert self.rows_seen or self.written == 0


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(ConsentPolicy))
def test_every_run_equals_the_reference_after_any_sequence_of_landing_changes(
    spark: SparkSession, tmp_path: Path, policy: ConsentPolicy
) -> None:
    machine = type(
        f"LandingChanges_{policy.value}",
        (LandingChanges,),
        {"spark": spark, "policy": policy, "scratch": tmp_path},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
