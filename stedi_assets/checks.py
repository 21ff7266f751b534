"""The asset checks of a zone table: their specs, and their results on the rows to publish.

Each zone table has a blocking `schema` check (its Pandera model) and a blocking privacy check
(its invariant); a trusted table also has the blocking accounting of its landing lines and a
warning when lines were quarantined. Results carry the metadata the UI shows: failing rules and
columns, violating row counts with hashed examples, the landing funnel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dagster as dg
from pyspark.sql import DataFrame

from stedi_assets.catalogue import ACCOUNTING_CHECK, QUARANTINE_CHECK, SCHEMA_CHECK
from stedi_assets.contract.accounting import QUARANTINED, TrustedBuild
from stedi_assets.metadata import example_keys

if TYPE_CHECKING:
    from stedi_assets.zone_table import ZoneTable


def check_specs(table: ZoneTable) -> list[dg.AssetCheckSpec]:
    """The checks of `table`, named as `LakeTable.check_names` names them."""
    specs = [
        dg.AssetCheckSpec(
            SCHEMA_CHECK,
            asset=table.key,
            blocking=True,
            description=f"Columns, types, nullability and rules of {table.model.__name__}.",
        ),
        dg.AssetCheckSpec(
            table.table.privacy_check,
            asset=table.key,
            blocking=True,
            description=table.privacy_rule,
        ),
    ]
    source = table.landing_source
    if source:
        specs += [
            dg.AssetCheckSpec(
                ACCOUNTING_CHECK,
                asset=table.key,
                blocking=True,
                description="Every landing line read is kept, quarantined or excluded for a "
                "stated reason: the counts add up to the lines read.",
            ),
            dg.AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=table.key,
                description=f"Warns when lines of {source} landing broke the contract; they "
                f"are in the `{source}/quarantine` table.",
            ),
        ]
    return specs


def schema_check(table: ZoneTable, rows: DataFrame) -> dg.AssetCheckResult:
    """The table's Pandera model on `rows`: every failed rule, with its column."""
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


def privacy_check(table: ZoneTable, violations: DataFrame) -> dg.AssetCheckResult:
    """Passes when no row breaks the table's privacy invariant; else counts and examples."""
    count = violations.count()
    metadata: dict[str, Any] = {"rule": table.privacy_rule, "violating_rows": count}
    if count:
        metadata["examples"] = dg.MetadataValue.json(example_keys(violations, table.example_key))
    return dg.AssetCheckResult(
        check_name=table.table.privacy_check, passed=count == 0, metadata=metadata
    )


def accounting_checks(build: TrustedBuild, row_count: int) -> list[dg.AssetCheckResult]:
    """The landing lines' accounting (blocking) and the quarantine's warning."""
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
