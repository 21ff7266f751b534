"""Publishing a zone table: validate it, and only then write it, as a Delta table, with metadata.

Every zone asset goes through `publish`, so every table gets the same treatment: its Pandera model,
its privacy invariant and (for trusted tables) the accounting of landing lines are checked on the
cached rows before anything is written. A failed error-severity check stops the asset: readers keep
the previous Delta version and downstream assets do not run.

Before building, `publish` compares what the table would be built from with the `BuildRecord` of
its published version (`build_inputs`): when nothing it depends on changed, the run parses no
landing file and adds no Delta version, and reports the published version again. When the only
change to a reading table's inputs is new files of its own landing source, only those files are
parsed and what they add is appended (an increment); the checks still cover the whole table.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import dagster as dg
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets import checks, delta_tables
from stedi_assets.build_inputs import (
    BuildInputs,
    BuildRecord,
    LandingFileEntry,
    added_files,
    companion_marker,
    reusable,
)
from stedi_assets.catalog.glue import CatalogColumn, zone_table_inputs
from stedi_assets.catalogue import LakeTable
from stedi_assets.contract.accounting import DUPLICATE, QUARANTINED, Accounting, TrustedBuild
from stedi_assets.contract.landing import FUTURE_TIME, LANDING_SOURCES_BY_NAME, list_landing_files
from stedi_assets.lake import READING_SOURCES, LakeLayout
from stedi_assets.metadata import bar_chart, preview, preview_sample
from stedi_assets.one_job import aggregate_in_one_job
from stedi_assets.resources import LakeResource
from stedi_assets.zone_table import ZoneTable

PublishEvents = Iterator[dg.AssetCheckResult | dg.MaterializeResult]
"""What a zone asset yields: its materialization and check results (or failed checks)."""

FULL_REFRESH_TAG = "stedi/full_refresh"
"""A run tag: `true` rebuilds every table of the run, as `STEDI_FULL_REFRESH=1` does."""


@dataclass(frozen=True)
class Publication:
    """A built zone table, ready to be checked and published."""

    rows: DataFrame
    privacy_violations: Callable[[DataFrame], DataFrame]
    """The rows that break the table's privacy invariant (none, or it is not published)."""
    parsed_landing: Sequence[DataFrame] = ()
    """Every parsed landing source the build read (a time in them after the latest plausible
    one bounds how long the build can be reused)."""
    build: TrustedBuild | None = None
    charts: Callable[[DataFrame], dict[str, dg.MarkdownMetadataValue]] | None = None


@dataclass(frozen=True)
class Sources:
    """What a zone table is built from: landing sources and lake tables."""

    landing: Sequence[str] = ()
    tables: Sequence[LakeTable] = ()


BuildIncrement = Callable[[Sequence[str]], Publication]
"""A reading table's build from only some of its landing files (the added ones): the rows,
quarantine and accounting those files add to the published version."""


@dataclass(frozen=True)
class Increment:
    """An increment of a reading table: the published version it adds to, and its record."""

    files: list[LandingFileEntry]
    version: int
    record: BuildRecord


def read_table(spark: SparkSession, layout: LakeLayout, table: ZoneTable) -> DataFrame:
    """The published version of an upstream zone table."""
    return delta_tables.read_table(spark, table.uri(layout))


def _column_schema(table: ZoneTable, rows: DataFrame) -> dg.TableSchema:
    descriptions = table.column_descriptions()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=field.dataType.simpleString(),
                description=descriptions.get(field.name),
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
            )
            for field in rows.schema.fields
        ]
    )


def _register_in_glue(
    lake_resource: LakeResource, table: ZoneTable, schema: dg.TableSchema
) -> str | None:
    """Register the table (and a trusted table's quarantine and landing) in the Glue catalog
    when one is configured; the database's name, or None."""
    catalog = lake_resource.catalog()
    if catalog is None:
        return None
    columns = [CatalogColumn(c.name, c.type, c.description) for c in schema.columns]
    source = table.landing_source
    for table_input in zone_table_inputs(
        lake_resource.layout,
        table.table,
        columns,
        table.model.__doc__ or "",
        LANDING_SOURCES_BY_NAME[source] if source else None,
    ):
        catalog.register(table_input)
    return catalog.database


def current_inputs(
    spark: SparkSession, lake_resource: LakeResource, sources: Sources
) -> BuildInputs | None:
    """The inputs a build from `sources` would read now, or None when a landing folder is
    missing (the build then fails, naming it)."""
    layout = lake_resource.layout
    landing = {}
    for source in sources.landing:
        files = list_landing_files(spark, layout.landing(source))
        if files is None:
            return None
        landing[source] = files
    upstream: dict[str, int | str | None] = {}
    for table in sources.tables:
        commit = delta_tables.latest_commit(spark, table.uri(layout))
        record = BuildRecord.from_json(commit[1]) if commit else None
        # Keyed by the rows' content when the commit recorded it (a rebuild that gave the same
        # rows changes nothing downstream), otherwise by the version (an erasure's rewrite).
        upstream[table.path] = (
            record.content if record and record.content else (commit[0] if commit else None)
        )
    return BuildInputs(landing, upstream, lake_resource.build_settings())


def full_refresh_requested(context: dg.AssetExecutionContext, lake_resource: LakeResource) -> bool:
    return lake_resource.full_refresh or context.run.tags.get(FULL_REFRESH_TAG) == "true"


def publish(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake_resource: LakeResource,
    table: ZoneTable,
    sources: Sources,
    build: Callable[[], Publication],
    build_increment: BuildIncrement | None = None,
) -> PublishEvents:
    """Build the table from `sources` unless its published version was built from the same
    inputs; check the rows, then write them (and a trusted table's quarantine) as Delta
    tables, and register them in the Glue catalog when one is configured.

    A reading table passes `build_increment`: when new files of its landing source are the only
    change, the published version grows by what they add instead of being rebuilt."""
    uri = table.uri(lake_resource.layout)
    inputs = current_inputs(spark, lake_resource, sources)
    published = delta_tables.latest_commit(spark, uri)
    if (
        published is not None
        and inputs is not None
        and not full_refresh_requested(context, lake_resource)
    ):
        version, user_metadata = published
        record = BuildRecord.from_json(user_metadata)
        latest_time_ms = lake_resource.plausible_ranges().latest_time_ms
        if record is not None and reusable(record, inputs, latest_time_ms):
            yield from _unchanged(context, spark, lake_resource, table, version, record)
            return
        increment = (
            _increment(spark, lake_resource.layout, table, record, version, inputs, latest_time_ms)
            if record is not None and build_increment is not None
            else None
        )
        if build_increment is not None and increment is not None:
            context.log.info(
                f"{table.name}: {len(increment.files)} new landing files are the only change "
                f"since version {version}; parsing them alone and adding what they hold"
            )
            publication = build_increment([file.path for file in increment.files])
            yield from _check_and_write(
                context, lake_resource, table, publication, inputs, increment
            )
            return
    yield from _check_and_write(context, lake_resource, table, build(), inputs)


def _increment(
    spark: SparkSession,
    layout: LakeLayout,
    table: ZoneTable,
    record: BuildRecord,
    version: int,
    inputs: BuildInputs,
    latest_time_ms: int,
) -> Increment | None:
    """The increment a reading table can make on its published version, or None: its inputs
    changed in another way, or a run stopped after writing the table's quarantine or parsed
    records but before the table (their commits do not carry the table's record)."""
    source = table.landing_source
    if source is None:
        return None
    files = added_files(record, inputs, source, latest_time_ms)
    if files is None:
        return None
    marker = companion_marker(record.inputs)
    for companion in (layout.quarantine(source), layout.parsed(source)):
        commit = delta_tables.latest_commit(spark, companion)
        if commit is None or commit[1] != marker:
            return None
    return Increment(files, version, record)


def _unchanged(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake_resource: LakeResource,
    table: ZoneTable,
    version: int,
    record: BuildRecord,
) -> PublishEvents:
    """The published version again: its rows are what a rebuild would give, so its checks'
    outcomes (recorded when it was published) still hold, and so does the metadata of its
    materialization, when this instance has it. It is registered in the Glue catalog again
    (one may have been configured, or its entry removed, since)."""
    uri = table.uri(lake_resource.layout)
    column_schema = _column_schema(table, delta_tables.read_table(spark, uri))
    database = _register_in_glue(lake_resource, table, column_schema)
    if database is not None:
        context.log.info(f"{table.name}: registered in Glue database {database}")
    context.log.info(
        f"{table.name}: nothing it is built from changed since version {version} of {uri}; "
        "not rebuilt (STEDI_FULL_REFRESH=1 or the run tag stedi/full_refresh=true rebuilds it)"
    )
    metadata: dict[str, object] = {}
    latest = context.instance.get_latest_materialization_event(table.key)
    materialization = latest.asset_materialization if latest else None
    if materialization is not None:
        shown = materialization.metadata.get("delta_version")
        if shown is not None and shown.value == version:
            metadata.update(materialization.metadata)
    metadata.update(
        {
            "dagster/row_count": record.row_count,
            "dagster/column_schema": column_schema,
            "dagster/uri": dg.MetadataValue.path(uri),
            "dagster/column_lineage": table.lineage(),
            "delta_version": version,
            "rebuilt": False,
            **(record.accounting or {}),
        }
    )
    yield dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=name,
                passed=passed,
                severity=dg.AssetCheckSeverity(severity),
                metadata={"checked_at_version": version},
            )
            for name, (passed, severity) in record.checks.items()
        ],
    )


def _cumulative(published: dict[str, int] | None, added: Accounting) -> Accounting:
    """The accounting of the published version's lines and an increment's, together."""
    before = published or {}
    return Accounting(
        lines_read=before.get("lines_read", 0) + added.lines_read,
        blank_lines=before.get("blank_lines", 0) + added.blank_lines,
        counts={kind: before.get(kind, 0) + count for kind, count in added.counts.items()},
    )


def _content_aggregates(rows: DataFrame) -> list[Column]:
    """Two 64-bit hashes of each row (as JSON, so a null is told from any value), summed
    exactly: with the row count and the schema, a digest of the rows as a multiset."""
    as_json = F.to_json(F.struct(*(F.col(f"`{name}`") for name in rows.columns)))
    return [
        F.sum(F.xxhash64(as_json).cast("decimal(38,0)")),
        F.sum(F.xxhash64(F.lit("stedi content"), as_json).cast("decimal(38,0)")),
    ]


def _content_digest(rows: DataFrame, row_count: int, sums: Sequence[object]) -> str:
    text = f"{rows.schema.simpleString()}|{row_count}|{sums[0]}|{sums[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


NOT_RECORDS = (QUARANTINED, DUPLICATE)
"""Accounting kinds that are not one distinct record each: every other kind counts records
the build read for the first time (`TrustedBuild.records`)."""


def _write(
    rows: DataFrame, uri: str, user_metadata: str, increment: Increment | None, added: int
) -> int:
    """A build replaces the table with its `added` rows; an increment appends them. Either
    way a commit, even of no rows, so the table's record (or a companion's marker) is always
    in its latest commit."""
    if increment is None:
        return delta_tables.overwrite(rows, uri, user_metadata, empty=added == 0)
    return delta_tables.append(rows, uri, user_metadata, empty=added == 0)


def _check_and_write(
    context: dg.AssetExecutionContext,
    lake_resource: LakeResource,
    table: ZoneTable,
    publication: Publication,
    inputs: BuildInputs | None,
    increment: Increment | None = None,
) -> PublishEvents:
    layout = lake_resource.layout
    build = publication.build
    spark = publication.rows.sparkSession
    uri = table.uri(layout)
    source = table.landing_source
    # An increment's publication holds what the added files add; the checks cover the whole
    # table: the published rows and those.
    added_rows = publication.rows
    try:
        if increment is not None:
            published = delta_tables.read_version(spark, uri, increment.version)
            rows = published.unionByName(added_rows).persist()
        else:
            rows = added_rows.persist()
        accounting = None
        if build is not None:
            accounting = (
                _cumulative(increment.record.accounting, build.accounting)
                if increment is not None
                else build.accounting
            )
        checks_started = time.perf_counter()
        rules = checks.rule_counts(table.model, rows)
        violations = publication.privacy_violations(rows)
        future_times = [(parsed, [F.min(FUTURE_TIME)]) for parsed in publication.parsed_landing]
        # The rules, the row count, the preview, the content digest, the privacy count and the
        # earliest time dated after the latest plausible one: one Spark job.
        parts = aggregate_in_one_job(
            *rules.aggregates(rows, also=[preview_sample(rows)]),
            (rows, _content_aggregates(rows)),
            (violations, [F.count(F.lit(1))]),
            *future_times,
        )
        rule_parts = len(parts) - 2 - len(future_times)
        rule_answers = parts[:rule_parts]
        content_sums, (violation_count,) = parts[rule_parts], parts[rule_parts + 1]
        first_future_times = [t for (t,) in parts[rule_parts + 2 :] if t is not None]
        if increment is not None and increment.record.first_future_time_ms is not None:
            first_future_times.append(increment.record.first_future_time_ms)
        failures, row_count = rules.failures(rule_answers)
        sample = rule_answers[0][-1]
        context.log.info(f"{table.name}: {row_count} rows built; checking them before publishing")
        if accounting is not None:
            context.log.info(f"{table.name}: landing lines {accounting.as_metadata()}")
        results = [
            checks.schema_check(failures),
            checks.privacy_check(table, violations, violation_count),
        ]
        if accounting is not None:
            results += checks.accounting_checks(accounting, row_count)
        checks_seconds = time.perf_counter() - checks_started
        blocking_failures = [
            result.check_name
            for result in results
            if not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        ]
        if blocking_failures:
            yield from results
            raise dg.Failure(
                description=f"{table.name} was not published: failed checks {blocking_failures}. "
                f"Readers keep the previous version of {uri}.",
                metadata={"failed_checks": blocking_failures},
            )
        metadata: dict[str, object] = {}
        fingerprint = inputs.fingerprint() if inputs else ""
        incremental_source = source if source in READING_SOURCES else None
        # An increment appends; a build replaces. The quarantine and the parsed records are
        # written first, marked with the table's record, and the table last, in one commit with
        # its record: an increment builds only on companions that carry that record.
        write_started = time.perf_counter()
        if build is not None and accounting is not None and source:
            quarantine_uri = layout.quarantine(source)
            marker = companion_marker(fingerprint)
            added = build.accounting.counts
            _write(build.quarantine, quarantine_uri, marker, increment, added[QUARANTINED])
            if incremental_source:
                new_records = sum(n for kind, n in added.items() if kind not in NOT_RECORDS)
                _write(build.records, layout.parsed(source), marker, increment, new_records)
                metadata["parsed_uri"] = dg.MetadataValue.path(layout.parsed(source))
            metadata.update(accounting.as_metadata())
            metadata["quarantine_uri"] = dg.MetadataValue.path(quarantine_uri)
            metadata["landing_funnel"] = bar_chart(
                f"Where the {accounting.lines_read:,} landing lines went",
                "lines",
                accounting.counts,
            )
        record = BuildRecord(
            inputs=fingerprint,
            first_future_time_ms=min(first_future_times, default=None),
            row_count=row_count,
            checks={str(r.check_name): (r.passed, r.severity.value) for r in results},
            accounting=accounting.as_metadata() if accounting else None,
            content=_content_digest(rows, row_count, content_sums),
            increment_base=(
                inputs.without_landing(incremental_source).fingerprint()
                if inputs and incremental_source
                else None
            ),
            increment_files=(
                [[f.path, f.size, f.modified_ms] for f in inputs.landing[incremental_source]]
                if inputs and incremental_source
                else None
            ),
        )
        added_count = row_count - (increment.record.row_count if increment else 0)
        version = _write(added_rows, uri, record.to_json(), increment, added_count)
        write_seconds = time.perf_counter() - write_started
        if increment is not None:
            context.log.info(
                f"{table.name}: added {added_count} rows from "
                f"{len(increment.files)} new files as version {version} of {uri} "
                f"({row_count} rows)"
            )
            metadata["new_landing_files"] = len(increment.files)
        else:
            context.log.info(
                f"{table.name}: published {row_count} rows as version {version} of {uri}"
            )
        column_schema = _column_schema(table, rows)
        database = _register_in_glue(lake_resource, table, column_schema)
        if database is not None:
            context.log.info(f"{table.name}: registered in Glue database {database}")
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": row_count,
                "dagster/column_schema": column_schema,
                "dagster/uri": dg.MetadataValue.path(uri),
                "dagster/column_lineage": table.lineage(),
                "delta_version": version,
                "checks_seconds": round(checks_seconds, 3),
                "write_seconds": round(write_seconds, 3),
                "preview": preview(rows.columns, sample),
                "rebuilt": True,
                **metadata,
                **(publication.charts(rows) if publication.charts else {}),
            },
            check_results=results,
        )
    finally:
        spark.catalog.clearCache()
