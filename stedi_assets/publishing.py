"""Publishing a zone table: validate it, and only then write it, as a Delta table, with metadata.

Every zone asset goes through `publish`, so every table gets the same treatment: its Pandera model,
its privacy invariant and (for trusted tables) the accounting of landing lines are checked on the
cached rows before anything is written. A failed error-severity check stops the asset: readers keep
the previous Delta version and downstream assets do not run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from delta.tables import DeltaTable
from pandera.pyspark import DataFrameModel
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.catalog.glue import CatalogColumn, delta_table_input, json_table_input
from stedi_assets.contract.accounting import QUARANTINED, TrustedBuild
from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import Lake
from stedi_assets.landing.assets import LANDING_DESCRIPTIONS
from stedi_assets.metadata import PERSONAL_MASKS, bar_chart, example_keys, preview
from stedi_assets.resources import LakeResource

PublishEvents = Iterator[dg.AssetCheckResult | dg.MaterializeResult]
"""What a zone asset yields: its materialization and check results (or failed checks)."""

OWNERS = ["team:stedi-data-engineering"]
SCHEMA_CHECK = "schema"
ACCOUNTING_CHECK = "accounting_balances"
QUARANTINE_CHECK = "no_quarantined_lines"


@dataclass(frozen=True)
class ZoneTable:
    """A table of the trusted or curated zone: where it lives and what guards it."""

    name: str
    path: str
    model: type[DataFrameModel]
    privacy_check: str
    privacy_rule: str
    column_lineage: Mapping[str, Sequence[tuple[str, str]]]
    """Each column's upstream (asset, column) pairs, shown as column lineage in the UI."""
    example_key: tuple[str, ...]
    """Columns that identify a row in a check failure's examples (personal ones hashed)."""
    landing_source: str | None = None
    """Set for trusted tables, which read a landing source and account for its lines."""

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.name)

    @property
    def zone(self) -> str:
        """`trusted` or `curated`: the last part of the table's path."""
        return self.path.rsplit("/", 1)[1]

    @property
    def holds_personal_data(self) -> bool:
        return any(name in PERSONAL_MASKS for name in self.model.to_schema().columns)

    def asset_options(self) -> dict[str, Any]:
        """The `@asset` arguments every zone table shares: name, group, checks, kinds, tags and
        its columns. The storage's kind (`file`, `s3`) is added when the definitions load."""
        return {
            "name": self.name,
            "group_name": self.zone,
            "check_specs": self.check_specs(),
            "kinds": {"spark", "delta"},
            "owners": OWNERS,
            "tags": {"zone": self.zone, "pii": str(self.holds_personal_data).lower()},
            "metadata": {"dagster/column_schema": self.declared_schema()},
        }

    def declared_schema(self) -> dg.TableSchema:
        """The columns its Pandera model declares, with their descriptions (for the UI)."""
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=name,
                    type=column.dtype.type.simpleString(),
                    description=column.description,
                    constraints=dg.TableColumnConstraints(nullable=column.nullable),
                )
                for name, column in self.model.to_schema().columns.items()
            ]
        )

    def lineage(self) -> dg.TableColumnLineage:
        return dg.TableColumnLineage(
            deps_by_column={
                column: [dg.TableColumnDep(dg.AssetKey(asset), name) for asset, name in deps]
                for column, deps in self.column_lineage.items()
            }
        )

    def uri(self, lake: Lake) -> str:
        return lake.uri(self.path)

    def check_specs(self) -> list[dg.AssetCheckSpec]:
        specs = [
            dg.AssetCheckSpec(
                SCHEMA_CHECK,
                asset=self.key,
                blocking=True,
                description=f"Columns, types, nullability and rules of {self.model.__name__}.",
            ),
            dg.AssetCheckSpec(
                self.privacy_check,
                asset=self.key,
                blocking=True,
                description=self.privacy_rule,
            ),
        ]
        if self.landing_source:
            specs += [
                dg.AssetCheckSpec(
                    ACCOUNTING_CHECK,
                    asset=self.key,
                    blocking=True,
                    description="Every landing line read is kept, quarantined or excluded for a "
                    "stated reason: the counts add up to the lines read.",
                ),
                dg.AssetCheckSpec(
                    QUARANTINE_CHECK,
                    asset=self.key,
                    description=f"Warns when lines of {self.landing_source} landing broke the "
                    f"contract; they are in the `{self.landing_source}/quarantine` table.",
                ),
            ]
        return specs


def same_columns(upstream: str, columns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Column lineage of columns copied from the same-named columns of `upstream`."""
    return {column: [(upstream, column)] for column in columns}


def read_table(spark: SparkSession, lake: Lake, table: ZoneTable) -> DataFrame:
    """The published version of an upstream zone table."""
    return spark.read.format("delta").load(table.uri(lake))


def _write_delta(rows: DataFrame, uri: str) -> int:
    rows.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)
    return DeltaTable.forPath(rows.sparkSession, uri).history(1).first()["version"]


def _column_schema(table: ZoneTable, rows: DataFrame) -> dg.TableSchema:
    descriptions = {
        name: column.description for name, column in table.model.to_schema().columns.items()
    }
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


QUARANTINE_COLUMNS = [
    CatalogColumn("source_file", "string", "The landing file the line came from."),
    CatalogColumn("line_number", "bigint", "The line's number in that file, from 1."),
    CatalogColumn("line", "string", "The line as it was (may hold personal data)."),
    CatalogColumn("reason", "string", "Every way the line breaks the data contract."),
]


def _catalog_entries(lake: Lake, table: ZoneTable, schema: dg.TableSchema) -> list[dict]:
    """Glue table inputs for a zone table and, for a trusted one, its quarantine and landing.

    Column comments are the descriptions the UI shows."""
    columns = [CatalogColumn(c.name, c.type, c.description) for c in schema.columns]
    entries = [delta_table_input(table.name, table.uri(lake), columns, table.model.__doc__ or "")]
    source = table.landing_source
    if source:
        comments = {column.name: column.comment for column in columns}
        landing_columns = [
            CatalogColumn(field.name, field.type_name, comments.get(field.name))
            for field in LANDING_SOURCES_BY_NAME[source].fields
        ]
        entries += [
            delta_table_input(
                f"{source}_quarantine",
                lake.quarantine(source),
                QUARANTINE_COLUMNS,
                f"Lines of {source} landing that broke the data contract, with the reason.",
            ),
            json_table_input(
                f"{source}_landing",
                lake.landing(source),
                landing_columns,
                LANDING_DESCRIPTIONS[source],
            ),
        ]
    return entries


def _schema_check(table: ZoneTable, rows: DataFrame) -> dg.AssetCheckResult:
    errors = table.model.validate(check_obj=rows).pandera.errors
    failures = [
        {"level": level, "category": category, **{k: str(v) for k, v in error.items()}}
        for level, categories in errors.items()
        for category, category_errors in categories.items()
        for error in category_errors
    ]
    return dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not failures,
        metadata={
            "failed_rules": len(failures),
            "failing_columns": sorted({failure["column"] for failure in failures}),
            "failures": dg.MetadataValue.json(failures),
        },
    )


def _privacy_check(table: ZoneTable, violations: DataFrame) -> dg.AssetCheckResult:
    count = violations.count()
    metadata: dict[str, Any] = {"rule": table.privacy_rule, "violating_rows": count}
    if count:
        metadata["examples"] = dg.MetadataValue.json(example_keys(violations, table.example_key))
    return dg.AssetCheckResult(check_name=table.privacy_check, passed=count == 0, metadata=metadata)


def _accounting_checks(build: TrustedBuild, row_count: int) -> list[dg.AssetCheckResult]:
    accounting = build.accounting
    balances = accounting.balances and accounting.counts["kept"] == row_count
    quarantined = accounting.counts[QUARANTINED]
    return [
        dg.AssetCheckResult(
            check_name=ACCOUNTING_CHECK,
            passed=balances,
            metadata={
                **accounting.as_metadata(),
                "accounted": accounting.accounted,
                "rows": row_count,
            },
        ),
        dg.AssetCheckResult(
            check_name=QUARANTINE_CHECK,
            passed=quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined_lines": quarantined},
        ),
    ]


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
    lake = lake_resource.lake
    spark = rows.sparkSession
    uri = table.uri(lake)
    try:
        rows = rows.persist()
        row_count = rows.count()
        context.log.info(f"{table.name}: {row_count} rows built; checking them before publishing")
        if build is not None:
            context.log.info(f"{table.name}: landing lines {build.accounting.as_metadata()}")
        checks_started = time.perf_counter()
        results = [
            _schema_check(table, rows),
            _privacy_check(table, privacy_violations(rows)),
        ]
        if build is not None:
            results += _accounting_checks(build, row_count)
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
            quarantine_uri = lake.quarantine(table.landing_source)
            _write_delta(build.quarantine, quarantine_uri)
            metadata.update(build.accounting.as_metadata())
            metadata["quarantine_uri"] = dg.MetadataValue.path(quarantine_uri)
            metadata["landing_funnel"] = bar_chart(
                f"Where the {build.accounting.lines_read:,} landing lines went",
                "lines",
                build.accounting.counts,
            )
        version = _write_delta(rows, uri)
        write_seconds = time.perf_counter() - write_started
        context.log.info(f"{table.name}: published {row_count} rows as version {version} of {uri}")
        column_schema = _column_schema(table, rows)
        catalog = lake_resource.catalog()
        if catalog is not None:
            for table_input in _catalog_entries(lake, table, column_schema):
                catalog.register(table_input)
            context.log.info(f"{table.name}: registered in Glue database {catalog.database}")
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": row_count,
                "dagster/column_schema": column_schema,
                "dagster/uri": dg.MetadataValue.path(uri),
                "dagster/column_lineage": table.lineage(),
                "delta_version": version,
                "checks_seconds": round(checks_seconds, 3),
                "write_seconds": round(write_seconds, 3),
                "preview": preview(rows),
                **metadata,
                **(charts(rows) if charts else {}),
            },
            check_results=results,
        )
    finally:
        spark.catalog.clearCache()
