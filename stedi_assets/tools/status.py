"""`stedi status`: what each zone table holds, and what the next run would do with it and why.

Read from the tables' Delta logs (the build record in each latest commit) and a listing of the
landing folders, the same inputs a run compares: no Spark, so it answers in a few seconds, on
a folder or on S3. A table downstream of one that the next run changes is decided again when
that one is published; its line says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from stedi_assets.builds.builder import Builder
from stedi_assets.builds.curated import CustomersCuratedBuilder, MachineLearningCuratedBuilder
from stedi_assets.builds.trusted import (
    AccelerometerTrustedBuilder,
    CustomerTrustedBuilder,
    StepTrainerTrustedBuilder,
)
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.build_inputs import (
    BuildInputs,
    BuildRecord,
    added_files,
    companion_marker,
    inputs_of,
    reusable,
)
from stedi_assets.publishing.flow import listed_landing
from stedi_assets.publishing.increment_plan import rebuild_costs_less, upstream_change
from stedi_assets.storage.delta_log import Commit, commits_between, latest_commit
from stedi_assets.storage.landing_store import LandingStore
from stedi_assets.tables.catalogue import written_before

BUILDERS: tuple[type[Builder], ...] = (
    CustomerTrustedBuilder,
    AccelerometerTrustedBuilder,
    StepTrainerTrustedBuilder,
    CustomersCuratedBuilder,
    MachineLearningCuratedBuilder,
)
"""The zone tables in the order a run publishes them."""

REUSE, INCREMENT, FULL_BUILD = "reuse", "increment", "full build"


@dataclass(frozen=True)
class TableStatus:
    name: str
    version: int | None
    rows: int | None
    published_ms: int | None
    next_run: str
    """`reuse`, `increment` or `full build`."""
    reason: str


def lake_status(lake: LakeResource, store: LandingStore, now_ms: int) -> list[TableStatus]:
    """Each zone table's published version and what a run at `now_ms` would do with it."""
    latest_time_ms = lake.plausible_ranges().latest_time_ms
    changing: list[str] = []
    found = []
    for builder in BUILDERS:
        status = _table_status(lake, store, builder, latest_time_ms)
        upstream = [name for name in _upstream_zone_tables(builder) if name in changing]
        if upstream and status.next_run == REUSE:
            min_rows = lake.increment_min_rows_for(builder.table.landing_source, new_files=False)
            status = _follows(status, upstream, min_rows)
        if status.next_run != REUSE:
            changing.append(builder.table.name)
        found.append(status)
    return found


def _upstream_zone_tables(builder: type[Builder]) -> list[str]:
    """The zone tables whose writes `builder` reads."""
    return [
        other.table.name
        for other in BUILDERS
        if any(other.table.writes(table) for table in builder.sources.tables)
    ]


def _follows(status: TableStatus, upstream: Sequence[str], min_rows: int) -> TableStatus:
    """A reused table downstream of tables a run changes: it changes after them if their rows
    change (a rebuild with the same rows leaves it reused), by a rebuild when it is small, else
    by an increment if what they publish allows one: decided once they are published."""
    tables = ", ".join(upstream)
    reason = f"what {tables} change{'s' if len(upstream) == 1 else ''}"
    if status.rows is not None and rebuild_costs_less(status.rows, min_rows):
        smaller = _smaller_than_an_increment_pays(status.rows, min_rows)
        next_run, reason = FULL_BUILD, f"{reason}, if rows change; {smaller}"
    else:
        next_run, reason = INCREMENT, f"{reason} (decided once published)"
    return TableStatus(
        status.name, status.version, status.rows, status.published_ms, next_run, reason
    )


def _smaller_than_an_increment_pays(rows: int, min_rows: int) -> str:
    return (
        f"{rows:,} rows, fewer than STEDI_INCREMENT_MIN_ROWS ({min_rows:,}): "
        "a rebuild costs less than an increment"
    )


def _table_status(
    lake: LakeResource, store: LandingStore, builder: type[Builder], latest_time_ms: int
) -> TableStatus:
    table = builder.table
    commit = latest_commit(store, table.table.path)
    if commit is None:
        return TableStatus(table.name, None, None, None, FULL_BUILD, "not published yet")
    record = BuildRecord.from_json(commit.user_metadata)
    next_run, reason = _next_run(lake, store, builder, record, latest_time_ms)
    rows = record.row_count if record else None
    return TableStatus(table.name, commit.version, rows, commit.timestamp_ms, next_run, reason)


def _inputs(lake: LakeResource, store: LandingStore, builder: type[Builder]) -> BuildInputs:
    landing = listed_landing(store, lake.layout, builder.sources)
    commits = {
        table.path: _as_pair(latest_commit(store, table.path)) for table in builder.sources.tables
    }
    return inputs_of(landing, commits, lake.build_settings())


def _as_pair(commit: Commit | None) -> tuple[int, str | None] | None:
    return (commit.version, commit.user_metadata) if commit else None


def _next_run(
    lake: LakeResource,
    store: LandingStore,
    builder: type[Builder],
    record: BuildRecord | None,
    latest_time_ms: int,
) -> tuple[str, str]:
    if lake.full_refresh:
        return FULL_BUILD, "STEDI_FULL_REFRESH is set"
    if record is None:
        return FULL_BUILD, "its latest version carries no build record (an erasure rewrote it)"
    inputs = _inputs(lake, store, builder)
    if reusable(record, inputs, latest_time_ms):
        return REUSE, "nothing it is built from changed"
    source = builder.table.landing_source
    files = added_files(record, inputs, source, latest_time_ms)
    if files is None:
        return FULL_BUILD, _why_not_an_increment(record, inputs, source, latest_time_ms)
    min_rows = lake.increment_min_rows_for(source, new_files=bool(files))
    if rebuild_costs_less(record.row_count, min_rows):
        return FULL_BUILD, _smaller_than_an_increment_pays(record.row_count, min_rows)
    unmarked = _unmarked_companion(store, builder, record)
    if unmarked:
        return FULL_BUILD, f"a run stopped after writing {unmarked} but before the table"
    rewritten = _rewritten_upstream(store, record, inputs)
    if rewritten:
        return FULL_BUILD, f"{rewritten} was changed by other than this project's increments"
    changed = [path for path, now in inputs.versions.items() if record.upstream_versions
               and record.upstream_versions.get(path) != now]  # fmt: skip
    what = [f"{len(files)} new landing file{'s' if len(files) != 1 else ''}"] if source else []
    what += [f"{path} changed" for path in changed]
    return INCREMENT, "; ".join(what) or "the upstream tables changed"


def _why_not_an_increment(
    record: BuildRecord, inputs: BuildInputs, source: str | None, latest_time_ms: int
) -> str:
    future = record.first_future_time_ms
    if future is not None and latest_time_ms >= future:
        when = datetime.fromtimestamp(future / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        return f"a line dated ahead ({when} UTC) is plausible now"
    if record.increment_base != inputs.increment_base(source):
        return "the code that shapes rows or a setting changed since it was built"
    current = set(inputs.landing.get(source or "", []))
    gone = sorted(file.key for file in record.landing_files() - current)
    if gone:
        return f"a landing file it was built from changed or is gone: {gone[0]}"
    return "its published build cannot grow by an increment"


def _unmarked_companion(store: LandingStore, builder: type[Builder], record: BuildRecord) -> str:
    """The first table written before the builder's table whose latest commit does not carry
    the published record's marker (`increment_plan.plan_increment` then builds in full); ""
    when there is none."""
    marker = companion_marker(record.inputs)
    for companion in written_before(builder.table.table):
        commit = latest_commit(store, companion.path)
        if commit is None or commit.user_metadata != marker:
            return companion.path
    return ""


def _rewritten_upstream(store: LandingStore, record: BuildRecord, inputs: BuildInputs) -> str:
    """The first upstream table changed since the build by a commit an increment cannot read
    (an erasure's rewrite, or one its log no longer holds); "" when there is none."""
    for path, now in inputs.versions.items():
        before = (record.upstream_versions or {}).get(path)
        if before == now or before is None or now is None:
            continue
        read = partial(commits_between, store, path)
        if upstream_change(read, before, now) is None:
            return path
    return ""


def format_status(statuses: Sequence[TableStatus]) -> list[str]:
    """A line per table: version, rows, when published (UTC), and the next run with why."""
    lines = [f"{'table':<26}{'version':>8}{'rows':>12}  {'published (UTC)':<17}  next run"]
    for status in statuses:
        when = (
            datetime.fromtimestamp(status.published_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            if status.published_ms
            else "-"
        )
        version = "-" if status.version is None else str(status.version)
        rows = "-" if status.rows is None else f"{status.rows:,}"
        lines.append(
            f"{status.name:<26}{version:>8}{rows:>12}  {when:<17}  "
            f"{status.next_run}: {status.reason}"
        )
    return lines
