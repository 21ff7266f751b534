"""Publishing a zone table: validate it, and only then write it, as a Delta table, with metadata.

Every zone asset goes through `publish`, so every table gets the same treatment: its Pandera model,
its privacy invariant and (for trusted tables) the accounting of landing lines are checked on the
cached rows before anything is written. A failed error-severity check stops the asset: readers keep
the previous Delta version and downstream assets do not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets import checks, delta_tables
from stedi_assets.catalog.glue import CatalogColumn, zone_table_inputs
from stedi_assets.contract.accounting import TrustedBuild
from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import LakeLayout
from stedi_assets.metadata import bar_chart, preview, preview_sample
from stedi_assets.one_job import aggregate_in_one_job
from stedi_assets.resources import LakeResource
from stedi_assets.zone_table import ZoneTable

PublishEvents = Iterator[dg.AssetCheckResult | dg.MaterializeResult]
"""What a zone asset yields: its materialization and check results (or failed checks)."""


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


def publish(
    context: dg.AssetExecutionContext,
    lake_resource: LakeResource,
    table: ZoneTable,
    rows: DataFrame,
    privacy_violations: Callable[[DataFrame], DataFrame],
    build: TrustedBuild | None = None,
    charts: Callable[[DataFrame], dict[str, dg.MarkdownMetadataValue]] | None = None,
) -> PublishEvents:
    """Check `rows`, then write them (and a trusted table's quarantine) as Delta tables, and
    register them in the Glue catalog when one is configured."""
    layout = lake_resource.layout
    spark = rows.sparkSession
    uri = table.uri(layout)
    try:
        rows = rows.persist()
        checks_started = time.perf_counter()
        rules = checks.rule_counts(table.model, rows)
        violations = privacy_violations(rows)
        # The rules, the row count, the preview and the privacy count: one Spark job.
        *rule_answers, (violation_count,) = aggregate_in_one_job(
            *rules.aggregates(rows, also=[preview_sample(rows)]),
            (violations, [F.count(F.lit(1))]),
        )
        failures, row_count = rules.failures(rule_answers)
        sample = rule_answers[0][-1]
        context.log.info(f"{table.name}: {row_count} rows built; checking them before publishing")
        if build is not None:
            context.log.info(f"{table.name}: landing lines {build.accounting.as_metadata()}")
        results = [
            checks.schema_check(failures),
            checks.privacy_check(table, violations, violation_count),
        ]
        if build is not None:
            results += checks.accounting_checks(build, row_count)
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
        write_started = time.perf_counter()
        if build is not None and table.landing_source:
            quarantine_uri = layout.quarantine(table.landing_source)
            delta_tables.overwrite(build.quarantine, quarantine_uri)
            metadata.update(build.accounting.as_metadata())
            metadata["quarantine_uri"] = dg.MetadataValue.path(quarantine_uri)
            metadata["landing_funnel"] = bar_chart(
                f"Where the {build.accounting.lines_read:,} landing lines went",
                "lines",
                build.accounting.counts,
            )
        version = delta_tables.overwrite(rows, uri)
        write_seconds = time.perf_counter() - write_started
        context.log.info(f"{table.name}: published {row_count} rows as version {version} of {uri}")
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
                **metadata,
                **(charts(rows) if charts else {}),
            },
            check_results=results,
        )
    finally:
        spark.catalog.clearCache()
