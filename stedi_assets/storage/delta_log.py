"""A Delta table's commits read from the files of its log, without Spark.

A commit is the JSON file `_delta_log/<version, 20 digits>.json`; what it did and the metadata
the lake records in it (`userMetadata`: a build record, a companion's marker) are in its
`commitInfo` action. The landing sensor and `stedi status` read published tables this way
through a `LandingStore` (`publishing.published_records`); a Spark Connect client reads the
tables of a lake on this machine's disk this way (`delta_tables`): asking the server
(`DESCRIBE HISTORY`) is a Spark job and a round trip per question.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

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


def local_log(uri: str) -> Path | None:
    """The `_delta_log` folder of the table at `uri` when the table is on this machine's disk
    (a path, or a `file:` URI); None for a table in object storage (`s3a://`)."""
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file:").removeprefix("//")) / "_delta_log"
    if "://" in uri:
        return None
    return Path(uri) / "_delta_log"


def latest_local_commit(log: Path) -> Commit | None:
    """The latest commit of the table whose log is the folder `log`; None before its first."""
    try:
        names = os.listdir(log)
    except FileNotFoundError:
        return None
    versions = [int(match.group(1)) for name in names if (match := COMMIT_FILE.search(name))]
    if not versions:
        return None
    latest = max(versions)
    return commit_of((log / f"{latest:020d}.json").read_bytes(), latest)


def local_commits(log: Path, after: int, upto: int) -> list[Commit] | None:
    """The commits after version `after` up to `upto`, oldest first; None when the log no
    longer holds them all (Delta cleans up log files older than its log retention)."""
    found = []
    for version in range(after + 1, upto + 1):
        try:
            found.append(commit_of((log / f"{version:020d}.json").read_bytes(), version))
        except FileNotFoundError:
            return None
    return found
