"""The build record of each published table, read from its Delta log without Spark.

The landing sensor runs in the daemon, without a SparkSession, and asks one question of the
published tables: which of them met a line dated ahead that has become plausible since, so must
be judged again (`BuildRecord.first_future_time_ms`). A table's record is its latest commit's
`userMetadata`, read from its log's files (`storage.delta_log`).
"""

from __future__ import annotations

from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.storage.delta_log import latest_commit
from stedi_assets.storage.landing_store import LandingStore
from stedi_assets.tables.catalogue import ZONE_TABLES


def tables_due_for_dated_ahead_lines(store: LandingStore, latest_time_ms: int) -> dict[str, int]:
    """The zone tables (by name, with their version) whose published build met a line dated
    after its latest plausible time that a run at `latest_time_ms` would find plausible: until
    a run rebuilds them, they hold what that line would change (a withdrawal dated ahead)."""
    due = {}
    for table in ZONE_TABLES:
        commit = latest_commit(store, table.path)
        record = BuildRecord.from_json(commit.user_metadata) if commit else None
        future = record.first_future_time_ms if record else None
        if commit and future is not None and latest_time_ms >= future:
            due[table.name] = commit.version
    return due
