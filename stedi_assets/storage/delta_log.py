"""A Delta table's commits read from the files of its log, without Spark.

A commit is the JSON file `_delta_log/<version, 20 digits>.json`; what it did and the metadata
the lake records in it (`userMetadata`: a build record, a companion's marker) are in its
`commitInfo` action. The landing sensor and `stedi status` read published tables this way
through the lake's `LandingStore` (a folder or S3); a Spark Connect client reads the tables of a
lake on this machine's disk this way (`delta_tables`): asking the server (`DESCRIBE HISTORY`)
is a Spark job and a round trip per question.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stedi_assets.storage.landing_store import FolderLandingStore

COMMIT_FILE = re.compile(r"(?:^|/)(\d{20})\.json$")
"""A commit's file name (or key): its version is the number. Delta writes a commit under a
temporary name and renames it, so a half-written commit never matches."""


@dataclass(frozen=True)
class Commit:
    """One commit of a table's history: what it did and the metadata it carries."""

    version: int
    operation: str
    """Delta's name for it: `WRITE`, `MERGE`, `SET TBLPROPERTIES`, `REORG`, `DELETE`, …"""
    user_metadata: str | None
    timestamp_ms: int | None = None


def commit_of(content: bytes | str, version: int) -> Commit:
    """The commit that a log file (`content`, its JSON actions, one per line) records."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    for line in text.splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
            return Commit(
                version, info.get("operation", ""), info.get("userMetadata"), info.get("timestamp")
            )
    return Commit(version, "", None)


class LogFiles(Protocol):
    """Where a table's log files are read from: a `LandingStore` (a folder or S3) is one."""

    def list_keys(self, prefix: str, start_after: str = "") -> list[str]: ...

    def read(self, key: str) -> bytes: ...

    def read_if_exists(self, key: str) -> bytes | None: ...


def latest_commit(files: LogFiles, path: str) -> Commit | None:
    """The latest commit of the table at `path` (relative to `files`); None before its first.
    Its log is listed from its last checkpoint on, so a long log is not listed whole."""
    log = f"{path}/_delta_log/"
    start_after = ""
    checkpoint = files.read_if_exists(log + "_last_checkpoint")
    if checkpoint and (version := int(json.loads(checkpoint)["version"])) > 0:
        start_after = f"{log}{version - 1:020d}.json"  # the checkpoint's own commit, and later
    commits = [
        (int(match.group(1)), key)
        for key in files.list_keys(log, start_after)
        if (match := COMMIT_FILE.search(key))
    ]
    if not commits:
        return None
    version, key = max(commits)
    return commit_of(files.read(key), version)


def commits_between(files: LogFiles, path: str, after: int, upto: int) -> list[Commit] | None:
    """The commits of the table at `path` after version `after` up to `upto`, oldest first;
    None when the log no longer holds them all (Delta cleans up log files older than its log
    retention)."""
    found = []
    for version in range(after + 1, upto + 1):
        content = files.read_if_exists(f"{path}/_delta_log/{version:020d}.json")
        if content is None:
            return None
        found.append(commit_of(content, version))
    return found


def on_local_disk(uri: str) -> tuple[LogFiles, str] | None:
    """The log files of the table at `uri` and its path among them when the table is on this
    machine's disk (a path, or a `file:` URI); None for a table in object storage (`s3a://`)."""
    if uri.startswith("file:"):
        uri = uri.removeprefix("file:").removeprefix("//")
    elif "://" in uri:
        return None
    table = Path(uri)
    return FolderLandingStore(table.parent), table.name
