"""Whatever sequence of landing changes arrives, the run the landing sensor requests leaves every
table and quarantine equal to what the independent reference computes from the files as they
are, under both consent policies, and a run interrupted after any number of its table commits
is completed when the daemon runs it again.

A Hypothesis state machine draws the changes: new files of each source (some named with glob
characters), redelivered copies, files rewritten in place (some keeping their size and
modification time, as `cp -p` does) and deleted, consent withdrawn and granted, consent dates
moved earlier and later, serial numbers reassigned onto another customer's device and freed
again, withdrawals dated ahead and the clock moving past them, erasures, and files delivered
again after an erasure. After each change the sensor ticks, and only the tables it requests
run (each reusing what did not change); then every table is compared with the reference, as
multisets."""

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
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

from stedi_assets.publishing import verify
from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.settings import ConsentPolicy
from stedi_assets.storage import delta_tables
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets_tests.conftest import Clock
from stedi_assets_tests.erased_lake import SALT, erase, serial_carriers
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    TABLE_PATHS,
    assert_lake_is,
    materialize_lake,
)
from stedi_assets_tests.reference_contract import Erased, compute_expected
from stedi_assets_tests.test_sensors import Sensor

HOUR_MS = 3_600_000

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
    spark: SparkSession, lake: Path, policy: ConsentPolicy, erased: Erased, now_ms: int
) -> bool:
    """Every table and quarantine equals the reference's, as a multiset, and each trusted
    table's accounting (recorded with its published version) the reference's; whether any
    table has a row (a comparison of empty tables proves little)."""
    expected = compute_expected(
        lake,
        policy=policy.value,
        earliest_time_ms=0,
        erased=erased.emails,
        erased_serials=erased.serials,
        now_ms=now_ms,
    )
    assert_lake_is(spark, lake, expected)
    for table in TABLE_PATHS:
        assert recorded_digest_is_the_rows(spark, lake / TABLE_PATHS[table]), table
    return any(getattr(expected, table) for table in TABLE_PATHS)


def recorded_digest_is_the_rows(spark: SparkSession, table: Path) -> bool:
    """The content digest the latest build record carries (an increment's: the published one
    plus what it added, minus what it removed) is that of the rows the table holds; true of a
    version no run wrote (an erasure's)."""
    commit = delta_tables.latest_commit(spark, str(table))
    record = BuildRecord.from_json(commit[1]) if commit else None
    if record is None:
        return True
    rows = spark.read.format("delta").load(str(table))
    ((*sums,),) = aggregate_in_one_job((rows, verify.content_aggregates(rows)))
    recorded = [int(Decimal(value)) for value in record.content_sums or []]
    return recorded == [int(value) for value in verify.summed_hashes(sums)]


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


START_MS = 100 - 24 * HOUR_MS
"""So that the latest plausible time starts at 100: every drawn time (0 to 30) is plausible,
and the withdrawals dated ahead (101 to 150) are not, until the clock passes them."""
NAME_SUFFIXES = st.sampled_from(["", "", "[1]", "{a,b}", "*", "?", " +%20"])
"""Names of new files: plain, or with characters Spark's reader would expand as a glob."""


class LandingChanges(RuleBasedStateMachine):
    spark: SparkSession
    policy: ConsentPolicy
    scratch: Path
    clock: Clock

    def __init__(self) -> None:
        super().__init__()
        self.lake = Path(tempfile.mkdtemp(dir=self.scratch)) / "lake"
        self.files: dict[str, list[Path]] = {source: [] for source in RECORDS}
        self.delivered: list[tuple[str, bytes]] = []
        """Every file's content as it first landed (an erasure rewrites landing files)."""
        self.written = 0
        self.rows_seen = False
        self.erased = Erased()
        self.clock.now_ms = START_MS
        self.instance = dg.DagsterInstance.ephemeral()
        self.sensor = Sensor(self.instance, str(self.lake))

    def lines(self, records: list[dict], malformed: list[str]) -> str:
        return "".join(json.dumps(record) + "\n" for record in records) + "".join(
            line + "\n" for line in malformed
        )

    def land(self, source: str, text: str, suffix: str = "") -> None:
        self.written += 1
        path = self.lake / source / "landing" / f"{source}-{self.written:03}{suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files[source].append(path)
        self.delivered.append((source, path.read_bytes()))

    def new_file(
        self, source: str, records: list[dict], malformed: list[str], suffix: str = ""
    ) -> None:
        self.land(source, self.lines(records, malformed), suffix)

    def sensor_request(self) -> list[dg.AssetKey] | None:
        """What the landing sensor asks for now (None: nothing)."""
        result = self.sensor.tick()
        if isinstance(result, dg.SkipReason):
            return None
        (request,) = result.run_requests
        return list(request.asset_selection)

    def materialize(self, selection: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
        return materialize_lake(
            self.lake,
            self.spark,
            policy=self.policy,
            erasure_salt=SALT,
            selection=selection,
            instance=self.instance,
            **HAND_MADE_TIMES,
        )

    def compare(self) -> None:
        self.rows_seen |= lake_matches_reference(
            self.spark, self.lake, self.policy, self.erased, self.clock.now_ms
        )

    def run(self) -> None:
        """The sensor's run, as the daemon launches it: only the tables the sensor asks for;
        every table must then be the reference's."""
        selection = self.sensor_request()
        if selection is not None:
            assert self.materialize(selection).success
        self.compare()

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

    @rule(
        data=st.data(),
        source=st.sampled_from(list(RECORDS)),
        malformed=MALFORMED,
        suffix=NAME_SUFFIXES,
    )
    def a_new_file(
        self, data: st.DataObject, source: str, malformed: list[str], suffix: str
    ) -> None:
        """New readings, or customer records: withdrawals, grants, moved consent dates,
        serial numbers reassigned or freed (the pools are small, so they collide)."""
        self.new_file(source, data.draw(RECORDS[source]), malformed, suffix)
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)))
    def a_file_redelivered(self, data: st.DataObject, source: str) -> None:
        original = data.draw(st.sampled_from(self.files[source]))
        self.land(source, original.read_text(encoding="utf-8"), "-redelivered")
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)), malformed=MALFORMED)
    def a_file_rewritten_in_place(
        self, data: st.DataObject, source: str, malformed: list[str]
    ) -> None:
        path = data.draw(st.sampled_from(self.files[source]))
        path.write_text(self.lines(data.draw(RECORDS[source]), malformed), encoding="utf-8")
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)))
    def a_file_rewritten_keeping_its_size_and_time(self, data: st.DataObject, source: str) -> None:
        """As `cp -p` or an upload in the same second leaves it: other records, the same
        length (records left out until they fit, then spaces), the modification time put
        back."""
        path = data.draw(st.sampled_from(self.files[source]))
        stat = path.stat()
        lines = [json.dumps(record) for record in data.draw(RECORDS[source])]
        while lines and len("\n".join(lines)) + 1 > stat.st_size:
            lines.pop()
        text = "\n".join(lines)
        path.write_text(text + " " * (stat.st_size - len(text) - 1) + "\n", encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert path.stat().st_size == stat.st_size
        self.run()

    @rule(data=st.data(), source=st.sampled_from(list(RECORDS)))
    def a_file_deleted(self, data: st.DataObject, source: str) -> None:
        if len(self.files[source]) < 2:  # a source keeps one file: its folder must exist
            return
        path = data.draw(st.sampled_from(self.files[source]))
        path.unlink()
        self.files[source].remove(path)
        self.run()

    @rule(email=st.sampled_from(EMAILS), serial=st.sampled_from(SERIALS), ahead=st.integers(1, 50))
    def a_withdrawal_dated_ahead(self, email: str, serial: str, ahead: int) -> None:
        """A withdrawal dated beyond the allowed future: quarantined until the clock reaches it."""
        latest = self.clock.now_ms + 24 * HOUR_MS
        record = {
            "email": email,
            "serialNumber": serial,
            "lastUpdateDate": latest + ahead,
            "shareWithResearchAsOfDate": None,
        }
        self.new_file("customer", [record], [])
        self.run()

    @rule(milliseconds=st.integers(10, 60))
    def the_clock_moves_on(self, milliseconds: int) -> None:
        """No file changes; the sensor alone decides whether a table must be judged again."""
        self.clock.now_ms += milliseconds
        self.run()

    @rule(email=st.sampled_from(EMAILS), vacuum_now=st.booleans())
    def a_customer_erased(self, email: str, vacuum_now: bool) -> None:
        """An erasure (their lines and rows removed, the history vacuumed now or after the
        retention); their data landing later is dropped as `erased`, with their device's."""
        carriers = serial_carriers(self.lake)
        only_theirs = {serial for serial, emails in carriers.items() if emails == {email}}
        assert erase(self.lake, email, vacuum_now=vacuum_now).success
        self.erased = Erased(self.erased.emails | {email}, self.erased.serials | only_theirs)
        self.run()

    @rule(data=st.data())
    def a_file_delivered_again_after_an_erasure(self, data: st.DataObject) -> None:
        """A file as it first landed, before any erasure rewrote it, delivered again."""
        source, content = data.draw(st.sampled_from(self.delivered))
        self.land(source, content.decode("utf-8"), "-again")
        self.run()

    @rule(
        source=st.sampled_from(list(RECORDS)),
        data=st.data(),
        commits=st.integers(0, 9),
    )
    def a_run_interrupted_then_completed(
        self, source: str, data: st.DataObject, commits: int
    ) -> None:
        """A change, the sensor's run stopped after `commits` table commits (a trusted table
        commits its quarantine, a reading table then its parsed records, then its rows), then
        that run again, as the daemon retries a run whose worker died: it must give the
        reference's tables."""
        self.new_file(source, data.draw(RECORDS[source]), [])
        selection = self.sensor_request()
        assert selection is not None
        with interrupted_after(commits):
            self.materialize(selection)  # fails, unless the change needs no more commits
        assert self.materialize(selection).success
        self.compare()

    @invariant()
    def some_table_has_had_rows(self) -> None:
        assert self.rows_seen or self.written == 0


def run_landing_changes(
    spark: SparkSession,
    tmp_path: Path,
    policy: ConsentPolicy,
    clock: Clock,
    examples: int,
    steps: int,
) -> None:
    machine = type(
        f"LandingChanges_{policy.value}",
        (LandingChanges,),
        {"spark": spark, "policy": policy, "scratch": tmp_path, "clock": clock},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_a_short_sequence_of_landing_changes_equals_the_reference(
    spark: SparkSession, tmp_path: Path, clock: Clock
) -> None:
    """The state machine at a small size, in the ten-minute tier: one sequence of two changes."""
    run_landing_changes(spark, tmp_path, ConsentPolicy.SINCE_CONSENT, clock, 1, 2)


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(ConsentPolicy))
def test_every_run_equals_the_reference_after_any_sequence_of_landing_changes(
    spark: SparkSession, tmp_path: Path, policy: ConsentPolicy, clock: Clock
) -> None:
    run_landing_changes(spark, tmp_path, policy, clock, EXAMPLES, 5)
