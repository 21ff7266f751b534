"""The build record of each published table, read from its Delta log without Spark.

The landing sensor runs in the daemon, without a SparkSession, and asks one question of the
published tables: which of them met a line dated ahead that has become plausible since, so must
be judged again (`BuildRecord.first_future_time_ms`). A table's latest commit is the highest
numbered JSON file of its `_delta_log` (listed after its last checkpoint, so a long log is not
listed whole), and its record is that commit's `userMetadata`.
"""

from __future__ import annotations

import json

from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.storage.delta_log import COMMIT_FILE, Commit, commit_of
from stedi_assets.storage.landing_store import LandingStore
from stedi_assets.tables.catalogue import ZONE_TABLES, LakeTable


def latest_commit(store: LandingStore, table: LakeTable) -> Commit | None:
    """The table's latest commit; None before its first."""
    log = f"{table.path}/_delta_log/"
    start_after = ""
    checkpoint = store.read_if_exists(log + "_last_checkpoint")
    if checkpoint and (version := int(json.loads(checkpoint)["version"])) > 0:
        start_after = f"{log}{version - 1:020d}.json"  # the checkpoint's own commit, and later
    commits = [
        (int(match.group(1)), key)
        for key in store.list_keys(log, start_after)
        if (match := COMMIT_FILE.search(key))
    ]
    if not commits:
        return None
    version, key = max(commits)
    return commit_of(store.read(key), version)


def commits_between(store: LandingStore, path: str, after: int, upto: int) -> list[Commit] | None:
    """The commits of the table at `path` after version `after` up to `upto`, oldest first;
    None when the log no longer holds them all."""
    found = []
    for version in range(after + 1, upto + 1):
        content = store.read_if_exists(f"{path}/_delta_log/{version:020d}.json")
        if content is None:
            return None
        found.append(commit_of(content, version))
    return found


def tables_due_for_dated_ahead_lines(store: LandingStore, latest_time_ms: int) -> dict[str, int]:
    """The zone tables (by name, with their version) whose published build met a line dated
    after its latest plausible time that a run at `latest_time_ms` would find plausible: until
    a run rebuilds them, they hold what that line would change (a withdrawal dated ahead)."""
    due = {}
    for table in ZONE_TABLES:
        commit = latest_commit(store, table)
        record = BuildRecord.from_json(commit.user_metadata) if commit else None
        future = record.first_future_time_ms if record else None
        if commit and future is not None and latest_time_ms >= future:
            due[table.name] = commit.version
    return due
