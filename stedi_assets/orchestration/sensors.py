"""The landing sensor: when landing files appear, change or disappear, rebuild what they feed;
and when the clock reaches a line dated ahead, rebuild the tables that quarantined it.

Each tick lists the three landing folders and compares them with the listing kept in the sensor's
cursor, file by file (key, size and fingerprint: the ETag on S3, the inode and nanosecond times on a
folder, `storage.landing_store`). Comparing whole listings, rather than keeping a "last modified"
watermark, catches files that share a timestamp, files written with an older timestamp, rewrites and
deletions (dagster#22892). While a run it requested is still queued or going, the sensor waits and
keeps its cursor, so files that arrive meanwhile are picked up by the next run, and a burst of files
makes one run.

A line dated further ahead than `STEDI_MAX_FUTURE_HOURS` is quarantined, and counts once the
clock reaches it (a withdrawal of consent dated tomorrow). No file changes then, so each tick
also reads the published tables' build records (`published_records`) and requests the tables
whose recorded future time has become plausible, with everything downstream of them: a run of
step_trainer_trusted alone would keep the readings of a customer whose withdrawal
customer_trusted has not applied yet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass

import dagster as dg
from dagster_aws.s3 import S3Resource

from stedi_assets.orchestration.landing import landing_asset_key
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.published_records import tables_due_for_dated_ahead_lines
from stedi_assets.storage.lake import LANDING_SOURCES
from stedi_assets.storage.landing_store import LandingFile, landing_store

SENSOR_NAME = "landing_files_sensor"
ZONE_ASSET_SELECTION = dg.AssetSelection.groups("trusted", "curated")
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
KEYS_IN_METADATA = 50
RUN_RETRY_TAGS = {
    "dagster/max_retries": "2",
    "dagster/retry_strategy": "ALL_STEPS",
    "dagster/retry_on_asset_or_op_failure": "false",
}
"""A run the sensor requested whose run worker died (the machine restarted, the process was
killed) is retried twice by the daemon (dagster.yaml enables run retries, with none by default
for runs launched by hand); all steps run again, and tables the failed run completed are
reused, not rebuilt. A step that failed is not retried with the run: a failed check would fail
again. A step retries itself when what failed can pass on a retry (S3 or the Spark server
unreachable, `transient.retried_when_transient`)."""

Listing = dict[str, dict[str, list]]
"""Per source, each file's key mapped to [size, fingerprint]."""


@dataclass(frozen=True)
class Cursor:
    """What the sensor keeps between ticks: the listing its last request saw, and how many
    requests it made since the cursor began (`epoch`, a fresh id when the cursor is reset)."""

    listing: Listing
    epoch: str
    requests: int

    def run_key(self) -> str:
        """Unique per request: Dagster launches a run key once, and a listing may return to a
        state seen before (a file deleted and uploaded again, twice)."""
        return f"landing-{self.epoch}-{self.requests}"


def encode_cursor(cursor: Cursor) -> str:
    """Compressed, so tens of thousands of keys stay a small cursor."""
    state = {"listing": cursor.listing, "epoch": cursor.epoch, "requests": cursor.requests}
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def decode_cursor(cursor: str | None) -> Cursor:
    if not cursor:
        return Cursor({}, uuid.uuid4().hex[:12], 0)
    state = json.loads(zlib.decompress(base64.b64decode(cursor)))
    return Cursor(state["listing"], state["epoch"], state["requests"])


@dataclass(frozen=True)
class LandingChanges:
    new: list[LandingFile]
    rewritten: list[LandingFile]
    deleted: list[str]

    def __bool__(self) -> bool:
        return bool(self.new or self.rewritten or self.deleted)


def compare(previous: dict[str, list], current: list[LandingFile]) -> LandingChanges:
    new = [file for file in current if file.key not in previous]
    rewritten = [
        file
        for file in current
        if file.key in previous and previous[file.key] != [file.size, file.fingerprint]
    ]
    present = {file.key for file in current}
    return LandingChanges(new, rewritten, sorted(set(previous) - present))


def landing_event(
    source: str, changes: LandingChanges, files: list[LandingFile]
) -> dg.AssetMaterialization:
    """What the UI shows on the landing asset: which files changed, how many, how large."""
    arrived = changes.new + changes.rewritten
    return dg.AssetMaterialization(
        asset_key=landing_asset_key(source),
        description=f"{len(arrived)} new or rewritten and {len(changes.deleted)} deleted files",
        metadata={
            "new_files": len(changes.new),
            "rewritten_files": len(changes.rewritten),
            "deleted_files": len(changes.deleted),
            "arrived_bytes": sum(file.size for file in arrived),
            "arrived_keys": dg.MetadataValue.json(
                [file.key for file in arrived[:KEYS_IN_METADATA]]
            ),
            "deleted_keys": dg.MetadataValue.json(changes.deleted[:KEYS_IN_METADATA]),
            "files_total": len(files),
            "bytes_total": sum(file.size for file in files),
        },
    )


def landing_files_sensor(minimum_interval_seconds: int) -> dg.SensorDefinition:
    """The sensor, listing the landing folders every `minimum_interval_seconds`."""
    return dg.sensor(
        name=SENSOR_NAME,
        target=ZONE_ASSET_SELECTION,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Rebuilds the tables that new, rewritten or deleted landing files feed: a "
        "customer file, all five; an accelerometer file, accelerometer_trusted and what is "
        "downstream of it; a step-trainer file, step_trainer_trusted and "
        "machine_learning_curated. Also rebuilds a table, and what is downstream of it, once "
        "the clock reaches a line it quarantined for being dated ahead.",
    )(rebuild_what_changed_files_feed)


def _downstream(
    context: dg.SensorEvaluationContext, keys: list[dg.AssetKey], include_self: bool
) -> set[dg.AssetKey]:
    if not keys:
        return set()
    return (
        dg.AssetSelection.assets(*keys)
        .downstream(include_self=include_self)
        .resolve(context.repository_def.asset_graph)
    )


def rebuild_what_changed_files_feed(
    context: dg.SensorEvaluationContext, lake: LakeResource, s3: S3Resource
) -> dg.SensorResult | dg.SkipReason:
    """One tick: compare the landing listing with the cursor's, and request a run of the zone
    tables downstream of every source whose files changed, and of every table whose build met
    a line dated ahead that is plausible now."""
    running = context.instance.get_run_records(
        dg.RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME}, statuses=IN_PROGRESS), limit=1
    )
    if running:
        return dg.SkipReason(
            f"Run {running[0].dagster_run.run_id} is not finished; files that arrived since "
            "are picked up after it."
        )
    store = landing_store(lake.layout, s3.get_client)
    previous = decode_cursor(context.cursor)
    listing = {source: store.list_files(source) for source in LANDING_SOURCES}
    changes = {
        source: compare(previous.listing.get(source, {}), listing[source])
        for source in LANDING_SOURCES
    }
    changed = [source for source in LANDING_SOURCES if changes[source]]
    due = tables_due_for_dated_ahead_lines(store, lake.plausible_ranges().latest_time_ms)
    if not changed and not due:
        return dg.SkipReason("No new, rewritten or deleted landing files.")
    affected = _downstream(
        context, [landing_asset_key(source) for source in changed], include_self=False
    ) | _downstream(context, [dg.AssetKey(name) for name in due], include_self=True)
    tags = {**RUN_RETRY_TAGS}
    if changed:
        tags["stedi/changed_sources"] = ",".join(changed)
    if due:
        tags["stedi/dated_ahead"] = ",".join(sorted(due))
    cursor = Cursor(
        {
            source: {f.key: [f.size, f.fingerprint] for f in files}
            for source, files in listing.items()
        },
        previous.epoch,
        previous.requests + 1,
    )
    if changed:
        run_key = cursor.run_key()
    else:
        # Once per table version: a run that fails is not requested again every tick.
        versions = ",".join(f"{name}@{version}" for name, version in sorted(due.items()))
        run_key = f"dated-ahead-{hashlib.sha256(versions.encode()).hexdigest()[:16]}"
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                asset_selection=sorted(affected, key=lambda key: key.to_user_string()),
                tags=tags,
            )
        ],
        asset_events=[
            landing_event(source, changes[source], listing[source]) for source in changed
        ],
        cursor=encode_cursor(cursor) if changed else context.cursor,
    )
