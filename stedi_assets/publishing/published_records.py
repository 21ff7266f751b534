"""The build record of each published table, read from its Delta log without Spark.

The landing sensor runs in the daemon, without a SparkSession, and asks one question of the
published tables: which of them met a line dated ahead that has become plausible since, so must
be judged again (`BuildRecord.first_future_time_ms`). A table's latest commit is the highest
numbered JSON file of its `_delta_log` (listed after its last checkpoint, so a long log is not
listed whole), and its record is that commit's `userMetadata`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.storage.landing_store import LandingStore
from stedi_assets.tables.catalogue import ZONE_TABLES, LakeTable

_COMMIT = re.compile(r"/(\d{20})\.json$")


@dataclass(frozen=True)
class LogCommit:
    """A commit as the Delta log records it: its version, operation, `userMetadata` and time."""

    version: int
    operation: str
    user_metadata: str | None
    timestamp_ms: int | None


def _commit_of(content: bytes, version: int) -> LogCommit:
    """The commit that a log file (`content`, its JSON actions) records."""
    for line in content.decode("utf-8").splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
            return LogCommit(
                version, info.get("operation", ""), info.get("userMetadata"), info.get("timestamp")
            )
    return LogCommit(version, "", None, None)


def latest_commit(store: LandingStore, table: LakeTable) -> LogCommit | None:
    """The table's latest commit; None before its first."""
    log = f"{table.path}/_delta_log/"
    start_after = ""
    checkpoint = store.read_if_exists(log + "_last_checkpoint")
    if checkpoint and (version := int(json.loads(checkpoint)["version"])) > 0:
        start_after = f"{log}{version - 1:020d}.json"  # the checkpoint's own commit, and later
    commits = [
        (int(match.group(1)), key)
        for key in store.list_keys(log, start_after)
        if (match := _COMMIT.search(key))
    ]
    if not commits:
        return None
    version, key = max(commits)
    return _commit_of(store.read(key), version)


def commits_between(
    store: LandingStore, path: str, after: int, upto: int
) -> list[LogCommit] | None:
    """The commits of the table at `path` after version `after` up to `upto`, oldest first;
    None when the log no longer holds them all."""
    found = []
    for version in range(after + 1, upto + 1):
        content = store.read_if_exists(f"{path}/_delta_log/{version:020d}.json")
        if content is None:
            return None
        found.append(_commit_of(content, version))
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
