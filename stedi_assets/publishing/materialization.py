"""What a zone asset reports to Dagster: the materialization's metadata (the column schema,
counts, the preview, charts, where the landing lines went, what an increment changed), its
check results, and the table's registration in the Glue catalog when one is configured."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.publishing.change import Change
from stedi_assets.publishing.metadata import bar_chart
from stedi_assets.publishing.publication import LakeSettings, PublishEvents
from stedi_assets.publishing.verify import Verdict
from stedi_assets.storage import delta_tables
from stedi_assets.storage.glue import CatalogColumn, zone_table_inputs
from stedi_assets.tables.zone_table import ZoneTable


def column_schema(table: ZoneTable, rows: DataFrame) -> dg.TableSchema:
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


def register_in_glue(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    table: ZoneTable,
    schema: dg.TableSchema,
) -> None:
    """Register the table (and a trusted table's quarantine and landing) in the Glue catalog
    when one is configured."""
    catalog = lake_resource.catalog()
    if catalog is None:
        return
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
    context.log.info(f"{table.name}: registered in Glue database {catalog.database}")


def published_metadata(
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


def kept_preview(
    context: dg.AssetExecutionContext, table: ZoneTable, change: Change
) -> dg.MetadataValue | None:
    """A table that only grew still holds the rows its published preview shows: the preview
    is kept rather than read from the whole table again."""
    if change.increment is None or change.removed_keys is not None:
        return None
    return published_metadata(context, table, change.increment.version).get("preview")


def unchanged(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake_resource: LakeSettings,
    table: ZoneTable,
    version: int,
    record: BuildRecord,
) -> PublishEvents:
    """The published version again: its rows are what a rebuild would give, so its checks'
    outcomes (recorded when it was published) still hold, and so does the metadata of its
    materialization, when this instance has it. It is registered in the Glue catalog again
    (one may have been configured, or its entry removed, since)."""
    uri = table.uri(lake_resource.layout)
    schema = column_schema(table, delta_tables.read_table(spark, uri))
    register_in_glue(context, lake_resource, table, schema)
    context.log.info(
        f"{table.name}: nothing it is built from changed since version {version} of {uri}; "
        "not rebuilt (STEDI_FULL_REFRESH=1 or the run tag stedi/full_refresh=true rebuilds it)"
    )
    metadata: dict[str, object] = dict(published_metadata(context, table, version))
    metadata.update(
        {
            **_table_metadata(table, uri, schema, record.row_count, version),
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


def materialized(
    context: dg.AssetExecutionContext,
    lake_resource: LakeSettings,
    table: ZoneTable,
    change: Change,
    verdict: Verdict,
    version: int,
    write_seconds: float,
) -> dg.MaterializeResult:
    """The materialization of a version just written, with its checks' results."""
    uri = table.uri(lake_resource.layout)
    _log_written(context, table, change, verdict, version, uri)
    schema = column_schema(table, change.added_rows)
    register_in_glue(context, lake_resource, table, schema)
    return dg.MaterializeResult(
        metadata={
            **_table_metadata(table, uri, schema, verdict.row_count, version),
            "checks_seconds": round(verdict.seconds, 3),
            "write_seconds": round(write_seconds, 3),
            "preview": verdict.preview,
            "rebuilt": change.is_build,
            **_landing_metadata(lake_resource, table, verdict),
            **_increment_metadata(table, change, verdict),
            **verdict.charts,
        },
        check_results=verdict.results,
    )


def _table_metadata(
    table: ZoneTable, uri: str, schema: dg.TableSchema, row_count: int, version: int
) -> dict[str, object]:
    return {
        "dagster/row_count": row_count,
        "dagster/column_schema": schema,
        "dagster/uri": dg.MetadataValue.path(uri),
        "dagster/column_lineage": table.lineage(),
        "delta_version": version,
    }


def _landing_metadata(
    lake_resource: LakeSettings, table: ZoneTable, verdict: Verdict
) -> dict[str, object]:
    """Where a trusted table's landing lines went, and its parsed records and quarantine."""
    source, accounting = table.landing_source, verdict.accounting
    if source is None or accounting is None:
        return {}
    layout = lake_resource.layout
    return {
        "parsed_uri": dg.MetadataValue.path(layout.parsed(source)),
        **accounting.as_metadata(),
        "quarantine_uri": dg.MetadataValue.path(layout.quarantine(source)),
        "landing_funnel": bar_chart(
            f"Where the {accounting.lines_read:,} landing lines went", "lines", accounting.counts
        ),
    }


def _increment_metadata(table: ZoneTable, change: Change, verdict: Verdict) -> dict[str, object]:
    if change.increment is None:
        return {}
    files = {"new_landing_files": len(change.increment.files)} if table.landing_source else {}
    return {
        **files,
        "rows_added": verdict.added_count,
        "rows_removed": verdict.removed_count,
        "keys_replaced": change.keys_replaced,
    }


def _log_written(
    context: dg.AssetExecutionContext,
    table: ZoneTable,
    change: Change,
    verdict: Verdict,
    version: int,
    uri: str,
) -> None:
    if change.is_build:
        context.log.info(
            f"{table.name}: published {verdict.row_count} rows as version {version} of {uri}"
        )
        return
    context.log.info(
        f"{table.name}: added {verdict.added_count} rows and removed {verdict.removed_count} as "
        f"version {version} of {uri} ({verdict.row_count} rows)"
    )
