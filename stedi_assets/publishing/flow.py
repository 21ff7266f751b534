"""Publishing a zone table: validate it, and only then write it, as a Delta table, with metadata.

Every zone asset goes through `publish`, so every table gets the same treatment: its Pandera model,
its privacy invariant and (for trusted tables) the accounting of landing lines are checked on the
cached rows before anything is written. A failed error-severity check stops the asset: readers keep
the previous Delta version and downstream assets do not run.

Before building, `publish` compares what the table would be built from with the `BuildRecord` of
its published version (`build_inputs`): when nothing it depends on changed, the run parses no
landing file and adds no Delta version, and reports the published version again. When the table
can grow by an increment (`increment_plan.plan_increment`: only files added to its landing source,
and upstream tables changed by this project's own commits), the asset builds what changes: rows
to add, and keys whose rows are replaced; the checks cover those rows, and the whole table where
what it is judged by changed (`docs/incremental.md`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.publishing.build_inputs import (
    BuildInputs,
    BuildRecord,
    added_files,
    inputs_of,
    reusable,
)
from stedi_assets.publishing.change import change_of
from stedi_assets.publishing.increment_plan import Increment, plan_increment, rebuild_costs_less
from stedi_assets.publishing.materialization import kept_preview, materialized, unchanged
from stedi_assets.publishing.publication import (
    LakeSettings,
    Publication,
    PublishEvents,
    Sources,
    TableBuilder,
)
from stedi_assets.publishing.transient import retried_when_transient
from stedi_assets.publishing.verify import verify
from stedi_assets.publishing.write import build_record, write_companions, write_table
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import LandingFile, LandingStore
from stedi_assets.tables.catalogue import LakeTable, written_before
from stedi_assets.tables.zone_table import ZoneTable

FULL_REFRESH_TAG = "stedi/full_refresh"
"""A run tag: `true` rebuilds every table of the run, as `STEDI_FULL_REFRESH=1` does."""


def listed_landing(
    store: LandingStore | None, layout: LakeLayout, sources: Sources
) -> dict[str, list[LandingFile]]:
    """The files of each landing source a build reads, as the store lists them now (the
    sensor's listing)."""
    landing = {}
    for source in sources.landing:
        if store is None:
            raise ValueError(f"a build that reads {source} landing needs the landing store")
        if not store.has_folder(source):
            raise FileNotFoundError(
                f"No landing folder at {layout.landing(source)}: check STEDI_LAKE, or write the "
                "source's newline-delimited JSON files there (`make demo` shows the layout)."
            )
        landing[source] = store.list_files(source)
    return landing


def current_inputs(
    spark: SparkSession, lake_resource: LakeSettings, store: LandingStore | None, sources: Sources
) -> BuildInputs:
    """The inputs a build from `sources` would read now: the landing files as the store lists
    them, the upstream tables' latest commits, the settings."""
    layout = lake_resource.layout
    landing = listed_landing(store, layout, sources)
    commits = {
        table.path: delta_tables.latest_commit(spark, table.uri(layout)) for table in sources.tables
    }
    return inputs_of(landing, commits, lake_resource.build_settings())


def full_refresh_requested(context: dg.AssetExecutionContext, lake_resource: LakeSettings) -> bool:
    return lake_resource.full_refresh or context.run.tags.get(FULL_REFRESH_TAG) == "true"


def publish(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    store: LandingStore | None,
    builder: TableBuilder,
) -> PublishEvents:
    """Build the builder's table from its sources unless its published version was built from
    the same inputs; check the rows, then write them (and a trusted table's quarantine) as
    Delta tables, and register them in the Glue catalog when one is configured.

    The published version changes by an increment when it can
    (`increment_plan.plan_increment`, then the builder's `increment`), instead of a rebuild.
    A failure a retry can fix (S3 or the Spark server not answering) runs the step again
    (`transient`)."""
    with retried_when_transient():
        yield from _publish(context, lake_resource, store, builder)


def _publish(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    store: LandingStore | None,
    builder: TableBuilder,
) -> PublishEvents:
    spark, table = builder.spark, builder.table
    inputs = current_inputs(spark, lake_resource, store, builder.sources)
    published = delta_tables.latest_commit(spark, table.uri(lake_resource.layout))
    if published is not None and not full_refresh_requested(context, lake_resource):
        version, user_metadata = published
        record = BuildRecord.from_json(user_metadata)
        latest_time_ms = lake_resource.plausible_ranges().latest_time_ms
        if record is not None and reusable(record, inputs, latest_time_ms):
            yield from unchanged(context, spark, lake_resource, table, version, record)
            return
        increment = _planned_increment(
            context, lake_resource, builder, record, (version, latest_time_ms), inputs
        )
        publication = builder.increment(increment) if increment is not None else None
        if increment is not None and publication is not None:
            changed = ", ".join(sorted(increment.upstream)) or "none"
            context.log.info(
                f"{table.name}: an increment on version {version}: "
                f"{len(increment.files)} new landing files; upstream tables changed: {changed}"
            )
            yield from _check_and_write(
                context, lake_resource, table, publication, inputs, increment
            )
            return
    files = inputs.landing.get(table.landing_source or "", [])
    yield from _check_and_write(context, lake_resource, table, builder.build(files), inputs)


def _planned_increment(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    builder: TableBuilder,
    record: BuildRecord | None,
    published: tuple[int, int],
    inputs: BuildInputs,
) -> Increment | None:
    """The increment the published version can grow by, or None for a full build: it has no
    build record, it is small enough that a rebuild costs less, or `plan_increment` finds none.
    `published`: the published version, and the latest plausible time of this run."""
    if record is None:
        return None
    (version, latest_time_ms), table, layout = published, builder.table, lake_resource.layout
    files = added_files(record, inputs, table.landing_source, latest_time_ms)
    min_rows = lake_resource.increment_min_rows_for(table.landing_source, bool(files))
    if rebuild_costs_less(record.row_count, min_rows):
        context.log.info(
            f"{table.name}: a full build rather than an increment: {record.row_count:,} rows, "
            f"fewer than STEDI_INCREMENT_MIN_ROWS ({min_rows:,})"
        )
        return None
    return plan_increment(
        builder.spark,
        layout,
        [companion.uri(layout) for companion in written_before(table.table)],
        record,
        version,
        inputs,
        files,
    )


def _declared_companions(
    table: LakeTable, publication: Publication
) -> Sequence[tuple[LakeTable, DataFrame]]:
    """The publication's companion tables, when they are the ones `table` declares: a run
    stopped after writing an undeclared one would go unnoticed by the next run's plan."""
    written = sorted(companion.path for companion, _ in publication.companion_tables)
    declared = sorted(companion.path for companion in table.companions)
    if written != declared:
        raise ValueError(
            f"{table.name} writes the companion tables {written}, but its LakeTable declares "
            f"{declared} (stedi_assets/tables/catalogue.py): declare every table written beside "
            "it, so that a run stopped between them is seen by the next one."
        )
    return publication.companion_tables


def _check_and_write(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    table: ZoneTable,
    publication: Publication,
    inputs: BuildInputs,
    increment: Increment | None = None,
) -> PublishEvents:
    """Check what `publication` changes in the table, in one Spark job, and write it only when
    no blocking check failed: companions first, then the table with its build record."""
    layout = lake_resource.layout
    uri = table.uri(layout)
    companions = _declared_companions(table.table, publication)
    try:
        change = change_of(publication, uri, increment)
        verdict = verify(context, table, publication, change, kept_preview(context, table, change))
        if verdict.blocking_failures:
            yield from verdict.results
            raise dg.Failure(
                description=f"{table.name} was not published: failed checks "
                f"{verdict.blocking_failures}. Readers keep the previous version of {uri}.",
                metadata={"failed_checks": verdict.blocking_failures},
            )
        write_started = time.perf_counter()
        record = build_record(inputs, table.landing_source, change, verdict)
        write_companions(layout, table.landing_source, publication, companions, change, record)
        version = write_table(change, uri, record)
        write_seconds = time.perf_counter() - write_started
        yield materialized(context, lake_resource, table, change, verdict, version, write_seconds)
    finally:
        publication.rows.sparkSession.catalog.clearCache()
