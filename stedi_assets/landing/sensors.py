"""The landing sensor: when landing files appear, change or disappear, rebuild what they feed.

Each tick lists the three landing folders and compares them with the listing kept in the
sensor's cursor, file by file (key, size and ETag or modification time). Comparing whole
listings, rather than keeping a "last modified" watermark, catches files that share a
timestamp, files written with an older timestamp, rewrites and deletions (dagster#22892).
While a run it requested is still queued or going, the sensor waits and keeps its cursor, so
files that arrive meanwhile are picked up by the next run, and a burst of files makes one run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass

import dagster as dg
from dagster_aws.s3 import S3Resource

from stedi_assets.lake import LANDING_SOURCES
from stedi_assets.landing.assets import landing_asset_key
from stedi_assets.landing.store import LandingFile, landing_store
from stedi_assets.resources import LakeResource

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
RETRIES = {"dagster/max_retries": "2", "dagster/retry_strategy": "ALL_STEPS"}
"""A run the sensor requested that fails (S3 unreachable, the run worker killed) is retried
twice by the daemon (dagster.yaml enables run retries, with none by default for runs launched
by hand). All steps run again: tables the failed run completed are reused, not rebuilt."""

Listing = dict[str, dict[str, list]]
"""Per source, each file's key mapped to [size, fingerprint]."""


def encode_cursor(listing: Listing) -> str:
    """Compressed, so tens of thousands of keys stay a small cursor."""
    raw = json.dumps(listing, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def decode_cursor(cursor: str | None) -> Listing:
    if not cursor:
        return {}
    return json.loads(zlib.decompress(base64.b64decode(cursor)))


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
        "machine_learning_curated.",
    )(rebuild_what_changed_files_feed)


def rebuild_what_changed_files_feed(
    context: dg.SensorEvaluationContext, lake: LakeResource, s3: S3Resource
) -> dg.SensorResult | dg.SkipReason:
    """One tick: compare the landing listing with the cursor's, and request a run of the zone
    tables downstream of every source whose files changed."""
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
        source: compare(previous.get(source, {}), listing[source]) for source in LANDING_SOURCES
    }
    changed = [source for source in LANDING_SOURCES if changes[source]]
    if not changed:
        return dg.SkipReason("No new, rewritten or deleted landing files.")
    cursor = encode_cursor(
        {
            source: {f.key: [f.size, f.fingerprint] for f in files}
            for source, files in listing.items()
        }
    )
    affected = (
        dg.AssetSelection.assets(*(landing_asset_key(source) for source in changed))
        .downstream(include_self=False)
        .resolve(context.repository_def.asset_graph)
    )
    transition = hashlib.sha256(f"{context.cursor}->{cursor}".encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"landing-{transition}",
                asset_selection=sorted(affected, key=lambda key: key.to_user_string()),
                tags={"stedi/changed_sources": ",".join(changed), **RETRIES},
            )
        ],
        asset_events=[
            landing_event(source, changes[source], listing[source]) for source in changed
        ],
        cursor=cursor,
    )
