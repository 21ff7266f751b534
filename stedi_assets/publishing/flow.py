"""Publishing a zone table: validate it, and only then write it, as a Delta table, with metadata.

Every zone asset goes through `publish`, so every table gets the same treatment: its Pandera model,
its privacy invariant and (for trusted tables) the accounting of landing lines are checked on the
cached rows before anything is written. A failed error-severity check stops the asset: readers keep
the previous Delta version and downstream assets do not run.

Before building, `publish` compares what the table would be built from with the `BuildRecord` of
its published version (`build_inputs`): when nothing it depends on changed, the run parses no
landing file and adds no Delta version, and reports the published version again. When the table
can grow by an increment (`increments.plan_increment`: only files added to its landing source,
and upstream tables changed by this project's own commits), the asset builds what changes: rows
to add, and keys whose rows are replaced; the checks cover those rows, and the whole table where
what it is judged by changed (`docs/incremental.md`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import DUPLICATE, QUARANTINED, Accounting, TrustedBuild
from stedi_assets.contract.landing import FUTURE_TIME, LANDING_SOURCES_BY_NAME
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.build_inputs import (
    BuildInputs,
    BuildRecord,
    companion_marker,
    reusable,
)
from stedi_assets.publishing.increment_plan import Increment, plan_increment
from stedi_assets.publishing.metadata import Chart, bar_chart, preview, preview_sample
from stedi_assets.publishing.transient import retried_when_transient
from stedi_assets.storage import delta_tables
from stedi_assets.storage.glue import CatalogColumn, zone_table_inputs
from stedi_assets.storage.landing_store import LandingFile, LandingStore
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets.tables import checks
from stedi_assets.tables.catalogue import LakeTable
from stedi_assets.tables.lake import LakeLayout
from stedi_assets.tables.zone_table import ZoneTable

PublishEvents = Iterator[dg.AssetCheckResult | dg.MaterializeResult]
"""What a zone asset yields: its materialization and check results (or failed checks)."""

FULL_REFRESH_TAG = "stedi/full_refresh"
"""A run tag: `true` rebuilds every table of the run, as `STEDI_FULL_REFRESH=1` does."""


@dataclass(frozen=True)
class Publication:
    """A built zone table, ready to be checked and published: the whole table, or for an
    increment what changes in it."""

    rows: DataFrame
    """Every row of the table; for an increment, the rows it adds."""
    privacy_violations: Callable[[DataFrame], DataFrame]
    """The rows that break the table's privacy invariant (none, or it is not published)."""
    parsed_landing: Sequence[DataFrame] = ()
    """Every parsed landing source the build read (a time in them after the latest plausible
    one bounds how long the build can be reused)."""
    build: TrustedBuild | None = None
    charts: Callable[[DataFrame], Mapping[str, Chart]] | None = None
    """Charts of the whole table, by metadata key (drawn in the Spark job of the checks)."""
    key: Sequence[str] = ()
    """For an increment that replaces some keys' rows: the key columns."""
    removed_keys: DataFrame | None = None
    """For an increment: the values of `key` whose rows are removed before `rows` are added."""
    judged_again: bool = False
    """For an increment: what the privacy invariant judges rows by changed (a consent, an
    owner), so every row of the table is checked again, not only the added ones."""
    companion_tables: Sequence[tuple[LakeTable, DataFrame]] = ()
    """Tables written beside the table, before it, with its marker: customer_trusted's current
    record of every customer, which step_trainer_trusted reads. A build replaces them; an
    increment replaces the rows of its `removed_keys` with these rows. Exactly the table's
    declared `LakeTable.companions`, whose markers plan an increment."""


@dataclass(frozen=True)
class Sources:
    """What a zone table is built from: landing sources and lake tables."""

    landing: Sequence[str] = ()
    tables: Sequence[LakeTable] = ()


BuildFull = Callable[[Sequence[LandingFile]], Publication]
"""A table's full build, given the files of its landing source as this run listed them (none
for a curated table): it reads exactly those, so its record names exactly what it read."""
BuildIncrement = Callable[[Increment], Publication | None]
"""A table's increment on its published version (`Increment`): what the added landing files
and the upstream changes add and remove; None when it needs a full build instead."""


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
    spark: SparkSession, lake_resource: LakeResource, store: LandingStore | None, sources: Sources
) -> BuildInputs:
    """The inputs a build from `sources` would read now: the landing files as the store lists
    them (the sensor's listing), the upstream tables' latest commits, the settings."""
    layout = lake_resource.layout
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
    upstream: dict[str, int | str | None] = {}
    versions: dict[str, int | None] = {}
    for table in sources.tables:
        commit = delta_tables.latest_commit(spark, table.uri(layout))
        record = BuildRecord.from_json(commit[1]) if commit else None
        versions[table.path] = commit[0] if commit else None
        # Keyed by the rows' content when the commit recorded it (a rebuild that gave the same
        # rows changes nothing downstream), otherwise by the version (an erasure's rewrite).
        upstream[table.path] = record.content if record and record.content else versions[table.path]
    return BuildInputs(landing, upstream, lake_resource.build_settings(), versions)


def full_refresh_requested(context: dg.AssetExecutionContext, lake_resource: LakeResource) -> bool:
    return lake_resource.full_refresh or context.run.tags.get(FULL_REFRESH_TAG) == "true"


def publish(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake_resource: LakeResource,
    store: LandingStore | None,
    table: ZoneTable,
    sources: Sources,
    build: BuildFull,
    build_increment: BuildIncrement | None = None,
) -> PublishEvents:
    """Build the table from `sources` unless its published version was built from the same
    inputs; check the rows, then write them (and a trusted table's quarantine) as Delta
    tables, and register them in the Glue catalog when one is configured.

    A table that passes `build_increment` changes its published version by an increment when
    it can (`increments.plan_increment`), instead of being rebuilt. A failure a retry can fix
    (S3 or the Spark server not answering) runs the step again (`transient`)."""
    with retried_when_transient():
        yield from _publish(
            context, spark, lake_resource, store, table, sources, build, build_increment
        )


def _publish(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake_resource: LakeResource,
    store: LandingStore | None,
    table: ZoneTable,
    sources: Sources,
    build: BuildFull,
    build_increment: BuildIncrement | None,
) -> PublishEvents:
    uri = table.uri(lake_resource.layout)
    inputs = current_inputs(spark, lake_resource, store, sources)
    published = delta_tables.latest_commit(spark, uri)
    if published is not None and not full_refresh_requested(context, lake_resource):
        version, user_metadata = published
        record = BuildRecord.from_json(user_metadata)
        latest_time_ms = lake_resource.plausible_ranges().latest_time_ms
        if record is not None and reusable(record, inputs, latest_time_ms):
            yield from _unchanged(context, spark, lake_resource, table, version, record)
            return
        increment = (
            plan_increment(
                spark,
                lake_resource.layout,
                table.landing_source,
                _companions(lake_resource.layout, table),
                record,
                version,
                inputs,
                latest_time_ms,
            )
            if record is not None and build_increment is not None
            else None
        )
        publication = build_increment(increment) if build_increment and increment else None
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
    yield from _check_and_write(context, lake_resource, table, build(files), inputs)


def _companions(layout: LakeLayout, table: ZoneTable) -> list[str]:
    """The tables a trusted table writes before itself (its quarantine, its parsed records and
    any other companion): an increment builds on them only when they carry the table's
    record."""
    source = table.landing_source
    if source is None:
        return []
    others = [companion.uri(layout) for companion in table.table.companions]
    return [layout.quarantine(source), layout.parsed(source), *others]


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
    metadata: dict[str, object] = dict(_published_metadata(context, table, version))
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


def _published_metadata(
    context: dg.AssetExecutionContext, table: ZoneTable, version: int
) -> Mapping[str, dg.MetadataValue]:
    """The metadata this instance recorded when it materialized `version` of the table, or
    none (another instance published it, or it was published since)."""
    latest = context.instance.get_latest_materialization_event(table.key)
    materialization = latest.asset_materialization if latest else None
    if materialization is not None:
        shown = materialization.metadata.get("delta_version")
        if shown is not None and shown.value == version:
            return materialization.metadata
    return {}


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


def _sums(values: Sequence[object]) -> list[Decimal]:
    """Sums as `_content_aggregates` gives them (null over no rows), as exact decimals."""
    return [Decimal(str(value)) if value is not None else Decimal(0) for value in values]


def _content_digest(rows: DataFrame, row_count: int, sums: Sequence[Decimal]) -> str:
    text = f"{rows.schema.simpleString()}|{row_count}|{sums[0]}|{sums[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


NOT_RECORDS = (QUARANTINED, DUPLICATE)
"""Accounting kinds that are not one distinct record each: every other kind counts records
the build read for the first time (`TrustedBuild.records`)."""


def _write_companion(
    rows: DataFrame,
    uri: str,
    marker: str,
    increment: Increment | None,
    added: int | None,
    key: Sequence[str] = (),
    removed_keys: DataFrame | None = None,
) -> int:
    """A build replaces a companion table (quarantine, parsed records, `customer/current`) with
    its `added` rows (None: not counted); an increment appends them, or replaces the rows of
    its `removed_keys` with them in one `MERGE`. Either way a commit, even of no rows, carrying
    the marker."""
    if increment is None:
        return delta_tables.overwrite(rows, uri, marker, empty=added == 0)
    if removed_keys is not None:
        return delta_tables.merge(rows, uri, key, removed_keys, marker)
    return delta_tables.append(rows, uri, marker, empty=added == 0)


def _write_table(
    rows: DataFrame,
    uri: str,
    record: BuildRecord,
    increment: Increment | None,
    removed_keys: DataFrame | None,
    key: Sequence[str],
) -> int:
    """A build replaces the table with `rows`; an increment appends them, or replaces the
    rows of its `removed_keys` with them in one `MERGE`. Always a commit, even of no change,
    so the table's record is in its latest commit."""
    metadata = record.to_json()
    if increment is None:
        return delta_tables.overwrite(rows, uri, metadata, empty=record.row_count == 0)
    if removed_keys is None or record.removed_rows == 0:
        return delta_tables.append(rows, uri, metadata, empty=record.added_rows == 0)
    return delta_tables.merge(rows, uri, key, removed_keys, metadata)


@dataclass
class _Parts:
    """Aggregates to answer in one Spark job, by name (`aggregate_in_one_job`)."""

    parts: dict[str, tuple[DataFrame, list[Column]]]

    def answer(self) -> dict[str, Row]:
        names = list(self.parts)
        return dict(zip(names, aggregate_in_one_job(*self.parts.values()), strict=True))


def _check_and_write(
    context: dg.AssetExecutionContext,
    lake_resource: LakeResource,
    table: ZoneTable,
    publication: Publication,
    inputs: BuildInputs,
    increment: Increment | None = None,
) -> PublishEvents:
    layout = lake_resource.layout
    build = publication.build
    companions = _declared_companions(table.table, publication)
    spark = publication.rows.sparkSession
    uri = table.uri(layout)
    source = table.landing_source
    # An increment's publication holds the rows it adds (and the keys whose rows it removes);
    # the checks cover the added rows, and the whole table where what the privacy invariant
    # judges rows by changed. Untouched rows keep the verdicts they were published with.
    try:
        added_rows = publication.rows
        if increment is not None:
            published = delta_tables.read_version(spark, uri, increment.version)
            added_rows = added_rows.select(*published.columns)  # in the table's order
        added_rows = added_rows.persist()
        whole_table, removed_rows, removed_keys = added_rows, None, None
        keys_replaced = 0
        if increment is not None:
            remaining = published
            if publication.removed_keys is not None:
                removed_keys = publication.removed_keys.persist()
                keys_replaced = removed_keys.count()
                if keys_replaced == 0:
                    removed_keys = None
            if removed_keys is not None:
                keys = F.broadcast(removed_keys)
                removed_rows = published.join(keys, list(publication.key), "left_semi")
                remaining = published.join(keys, list(publication.key), "left_anti")
            whole_table = remaining.unionByName(added_rows)
        privacy_rows = whole_table if increment is None or publication.judged_again else added_rows
        accounting = None
        if build is not None:
            accounting = (
                _cumulative(increment.record.accounting, build.accounting)
                if increment is not None
                else build.accounting
            )
        checks_started = time.perf_counter()
        rules = checks.rule_counts(table.model, added_rows)
        violations = publication.privacy_violations(privacy_rows)
        # The rules, the row count, the preview, the content digest, the privacy count, the
        # charts and the earliest time dated after the latest plausible one: one Spark job.
        rule_parts = rules.aggregates(added_rows)
        parts = _Parts({f"rules_{i}": part for i, part in enumerate(rule_parts)})
        # A table that only grew still holds the rows its published preview shows: the
        # preview is kept rather than read from the whole table again.
        kept_preview = (
            _published_metadata(context, table, increment.version).get("preview")
            if increment is not None and removed_keys is None
            else None
        )
        if kept_preview is None:
            parts.parts["preview"] = (whole_table, [preview_sample(whole_table)])
        parts.parts["content"] = (added_rows, _content_aggregates(added_rows))
        if removed_rows is not None:
            parts.parts["removed"] = (
                removed_rows,
                [F.count(F.lit(1)), *_content_aggregates(removed_rows)],
            )
        parts.parts["violations"] = (violations, [F.count(F.lit(1))])
        charts = publication.charts(whole_table) if publication.charts else {}
        for name, chart in charts.items():
            parts.parts[f"chart_{name}"] = (chart.rows, list(chart.columns))
        for index, parsed in enumerate(publication.parsed_landing):
            parts.parts[f"future_{index}"] = (parsed, [F.min(FUTURE_TIME)])
        answers = parts.answer()
        failures, added_count = rules.failures(
            [answers[f"rules_{i}"] for i in range(len(rule_parts))]
        )
        (sample,) = answers["preview"] if kept_preview is None else (None,)
        added_sums = _sums(answers["content"])
        removed_count, removed_sums = 0, [Decimal(0), Decimal(0)]
        if removed_rows is not None:
            removed_count, *removed_values = answers["removed"]
            removed_sums = _sums(removed_values)
        (violation_count,) = answers["violations"]
        drawn = {name: chart.draw(answers[f"chart_{name}"]) for name, chart in charts.items()}
        first_future_times = [
            answers[name][0]
            for name in answers
            if name.startswith("future_") and answers[name][0] is not None
        ]
        content_sums: list[Decimal] | None = added_sums
        row_count = added_count
        if increment is not None:
            row_count = increment.record.row_count - removed_count + added_count
            earlier = increment.record.content_sums
            content_sums = (
                [
                    Decimal(before) + added - removed
                    for before, added, removed in zip(
                        earlier, added_sums, removed_sums, strict=True
                    )
                ]
                if earlier is not None
                else None
            )
            if increment.record.first_future_time_ms is not None:
                first_future_times.append(increment.record.first_future_time_ms)
        context.log.info(f"{table.name}: {row_count} rows built; checking them before publishing")
        if accounting is not None:
            context.log.info(f"{table.name}: landing lines {accounting.as_metadata()}")
        results = [
            checks.schema_check(failures),
            checks.privacy_check(table, violations, violation_count),
        ]
        if build is not None and accounting is not None:
            results += checks.accounting_checks(accounting, row_count, build.erased_lines)
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
        fingerprint = inputs.fingerprint()
        marker = companion_marker(fingerprint)
        # A build replaces its companions, an increment appends to them. The companions are
        # written first, marked with the table's record, and the table last, in one commit
        # with its record: an increment builds only on companions that carry that record.
        write_started = time.perf_counter()
        # A companion keyed like its table holds rows of the keys an increment names only:
        # none when it names none (its append would make no commit, leaving an old marker).
        keyed = increment is not None and publication.removed_keys is not None
        for companion, companion_rows in companions:
            _write_companion(
                companion_rows,
                companion.uri(layout),
                marker,
                increment,
                0 if keyed and removed_keys is None else None,
                publication.key,
                removed_keys,
            )
        if build is not None and accounting is not None and source:
            quarantine_uri = layout.quarantine(source)
            added = build.accounting.counts
            _write_companion(
                build.quarantine, quarantine_uri, marker, increment, added[QUARANTINED]
            )
            new_records = sum(n for kind, n in added.items() if kind not in NOT_RECORDS)
            _write_companion(build.records, layout.parsed(source), marker, increment, new_records)
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
            content=(
                _content_digest(added_rows, row_count, content_sums) if content_sums else None
            ),
            content_sums=[str(value) for value in content_sums] if content_sums else None,
            increment_base=inputs.increment_base(source),
            increment_files=(
                [[f.key, f.size, f.fingerprint] for f in inputs.landing[source]] if source else None
            ),
            upstream_versions=dict(inputs.versions),
            kind="build" if increment is None else "increment",
            removed_rows=removed_count,
            added_rows=added_count,
        )
        version = _write_table(added_rows, uri, record, increment, removed_keys, publication.key)
        write_seconds = time.perf_counter() - write_started
        if increment is not None:
            context.log.info(
                f"{table.name}: added {added_count} rows and removed {removed_count} as version "
                f"{version} of {uri} ({row_count} rows)"
            )
            if source:
                metadata["new_landing_files"] = len(increment.files)
            metadata["rows_added"] = added_count
            metadata["rows_removed"] = removed_count
            metadata["keys_replaced"] = keys_replaced
        else:
            context.log.info(
                f"{table.name}: published {row_count} rows as version {version} of {uri}"
            )
        column_schema = _column_schema(table, added_rows)
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
                "preview": kept_preview or preview(added_rows.columns, sample),
                "rebuilt": increment is None,
                **metadata,
                **drawn,
            },
            check_results=results,
        )
    finally:
        spark.catalog.clearCache()
