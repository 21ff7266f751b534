"""Whether a published table can grow by an increment, and what changed since its build.

A table's published build recorded (`BuildRecord`) its own landing files and the Delta version
of each table it read. A run that finds the settings and the code the same, the build's files
all still there unchanged, and every upstream table changed only by commits of this project
(each carries its record: a rebuild, or an increment) plans an increment: the files added
since, and per upstream table the versions before and after. The asset then reads what it
needs of those changes: a small table whole at both versions (its rows' differences), a large
one's change data feed when its commits were increments (`docs/incremental.md`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.publishing.build_inputs import (
    BuildInputs,
    BuildRecord,
    companion_marker,
    is_companion_marker,
)
from stedi_assets.storage import delta_tables
from stedi_assets.storage.delta_log import Commit
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tables.catalogue import LakeTable

DATA_NEUTRAL_OPERATIONS = ("REORG", "OPTIMIZE", "SET TBLPROPERTIES")
"""Commits that change no row (a purge of deleted rows' files, a compaction, the commit an
empty write makes): a reader of the table's changes may step over them."""
FEW_ROWS = 1_000_000
"""Changes of up to this many rows are broadcast when joined with a table's history (a large
table is then scanned once, never shuffled)."""
FEW_NEW_BYTES = 64 * 2**20
"""New landing files this small (about a million lines) hold few enough records to be
broadcast when they are matched against the records read before."""
VACUUM_OPERATIONS = ("VACUUM START", "VACUUM END")
"""The commits a vacuum logs (`erasure.lake.vacuum_lake` turns its logging on). A vacuum deletes
files that commits removed: after one, the table's earlier versions and changes may be gone."""


@dataclass(frozen=True)
class UpstreamChange:
    """How an upstream table changed since the published build read it."""

    before: int
    """The version the published build read."""
    after: int
    """The version now."""
    increments_only: bool
    """Every commit since is an increment of this project (rows added, and rows of some keys
    removed) or changes no row: its change data feed is as small as the change."""
    additions_only: bool
    """Those increments removed no row."""
    rows_added: int = 0
    """Rows those increments added, together."""

    @property
    def changed_rows(self) -> bool:
        """Whether the table's rows may differ between the two versions: not when every commit
        between is an increment that added and removed no row, or changes no row."""
        return not (self.additions_only and self.rows_added == 0)

    @property
    def few_added(self) -> bool:
        """Whether the rows added are few enough to be broadcast to every task of a join."""
        return self.increments_only and self.rows_added <= FEW_ROWS


@dataclass(frozen=True)
class Increment:
    """What an increment of a published table builds on."""

    version: int
    """The published version it changes."""
    record: BuildRecord
    files: list[LandingFile]
    """The table's own landing files added since (none for a curated table)."""
    upstream: dict[str, UpstreamChange]
    """The upstream tables whose rows changed, by lake path (left out: a table whose commits
    since added and removed no row, or whose rows are the same as a content digest says)."""
    versions_now: Mapping[str, int | None]
    """Every upstream table's version this run read, by lake path."""

    def changed(self, table: LakeTable) -> UpstreamChange | None:
        return self.upstream.get(table.path)

    def version_read(self, table: LakeTable) -> int:
        """The version of `table` the published build read."""
        versions = self.record.upstream_versions or {}
        version = versions.get(table.path)
        if version is None:
            raise KeyError(f"the build record has no version of {table.path}")
        return version

    def before(self, spark: SparkSession, layout: LakeLayout, table: LakeTable) -> DataFrame:
        """`table`'s rows as the published build read them: at that version when they changed
        since; otherwise at the version now, which holds the same rows (the version read may
        be a rebuild's predecessor whose files a vacuum deleted)."""
        if self.changed(table) is None:
            return self.now(spark, layout, table)
        return delta_tables.read_version(spark, table.uri(layout), self.version_read(table))

    def now(self, spark: SparkSession, layout: LakeLayout, table: LakeTable) -> DataFrame:
        """`table` at the version this run read."""
        version = self.versions_now.get(table.path)
        if version is None:
            version = self.version_read(table)
        return delta_tables.read_version(spark, table.uri(layout), version)

    def changes(
        self, spark: SparkSession, layout: LakeLayout, table: LakeTable
    ) -> tuple[DataFrame, DataFrame]:
        """The rows `table`'s commits since the build added, and those they removed (each
        with the table's columns; a row removed and added again is in both)."""
        change = self.changed(table)
        if change is None:
            raise ValueError(f"{table.path} did not change")
        feed = delta_tables.changes(spark, table.uri(layout), change.before, change.after)
        columns = [name for name in feed.columns if not name.startswith("_")]
        inserted = F.col("_change_type") == "insert"
        return feed.where(inserted).select(*columns), feed.where(~inserted).select(*columns)


def rebuild_costs_less(rows: int, min_rows: int) -> bool:
    """Whether a published table of `rows` rows has fewer than `min_rows`, so a full build
    costs no more than an increment: an increment pays fixed costs (reading the upstream
    changes and the published rows again, a Delta merge, the checks of what it judged again)
    that only a large table repays (`settings.DEFAULT_INCREMENT_MIN_ROWS`)."""
    return rows < min_rows


def plan_increment(
    spark: SparkSession,
    layout: LakeLayout,
    companions: list[str],
    record: BuildRecord,
    version: int,
    inputs: BuildInputs,
    files: list[LandingFile] | None,
) -> Increment | None:
    """The increment the table published as `version` (with `record`) can make now with the
    landing `files` added since (`build_inputs.added_files`), or None: its settings, code or
    landing files changed otherwise than by added files, a future-dated line became plausible
    (`files` is None then), an upstream table was rewritten by something other than this
    project (an erasure), or a run stopped after writing the table's `companions` (its
    quarantine, its parsed records) but before the table (their commits do not carry the
    table's record)."""
    if files is None or record.upstream_versions is None:
        return None
    marker = companion_marker(record.inputs)
    for companion in companions:
        commit = delta_tables.latest_commit(spark, companion)
        if commit is None or commit[1] != marker:
            return None
    upstream = {}
    for path, now in inputs.versions.items():
        before = record.upstream_versions.get(path)
        if before == now:
            continue
        if before is None or now is None:
            return None
        change = _upstream_change(spark, layout.uri(path), before, now)
        if change is None:
            return None
        if not change.changed_rows:
            continue  # the same rows
        upstream[path] = change
    return Increment(version, record, files, upstream, dict(inputs.versions))


CommitReader = Callable[[int, int], list[Commit] | None]
"""A table's commits after one version up to another (`delta_log.commits_between`)."""


def _upstream_change(
    spark: SparkSession, uri: str, before: int, after: int
) -> UpstreamChange | None:
    """How the table at `uri` changed from `before` to `after` (`upstream_change`)."""
    return upstream_change(
        lambda since, upto: delta_tables.commits_since(spark, uri, since, upto), before, after
    )


def upstream_change(read: CommitReader, before: int, after: int) -> UpstreamChange | None:
    """How a table changed from version `before` to `after`: no row changed when the two
    versions' build records carry the same digest of the rows (a rebuild that gave the same
    rows, as tables under `STEDI_INCREMENT_MIN_ROWS` often do); otherwise as its commits
    since say (`change_from_commits`). `read(since, upto)`: the table's commits after
    version `since` up to `upto`, or None when its log no longer holds them all."""
    commits = read(before - 1, after)
    if commits and same_rows(commits[0], commits[-1]):
        return UpstreamChange(before, after, True, True, rows_added=0)
    since = commits[1:] if commits else read(before, after)
    return None if since is None else change_from_commits(before, after, since)


def same_rows(first: Commit, last: Commit) -> bool:
    """Whether the two commits' build records say the table held the same rows (the same
    content digest: `BuildRecord.content`)."""
    records = [BuildRecord.from_json(commit.user_metadata) for commit in (first, last)]
    contents = [record.content if record else None for record in records]
    return contents[0] is not None and contents[0] == contents[1]


def change_from_commits(
    before: int, after: int, commits: Sequence[Commit]
) -> UpstreamChange | None:
    """How a table changed through `commits` (those after version `before`, up to `after`);
    None when a commit between is not this project's (it carries neither a build record nor
    a companion's marker: an erasure's rewrite), or when a vacuum ran after a commit between
    removed files (the version `before` and the changes since may no longer be readable)."""
    increments_only = additions_only = True
    files_removed = False
    rows_added = 0
    for commit in commits:
        if commit.operation in VACUUM_OPERATIONS:
            if files_removed:  # the vacuum may have deleted what the versions between read
                return None
            continue
        files_removed = True
        if commit.operation in DATA_NEUTRAL_OPERATIONS:
            continue
        record = BuildRecord.from_json(commit.user_metadata)
        if record is None and not is_companion_marker(commit.user_metadata):
            return None
        if record is None or record.kind != "increment":
            increments_only = additions_only = False
            continue
        rows_added += record.added_rows
        if record.removed_rows:
            additions_only = False
    return UpstreamChange(before, after, increments_only, additions_only, rows_added)
