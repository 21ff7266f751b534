"""The asset checks of a zone table: their specs, and their results on the rows to publish.

Each zone table has a blocking `schema` check (its Pandera model) and a blocking privacy check
(its invariant); a trusted table also has the blocking accounting of its landing lines and a
warning when lines were quarantined. Results carry the metadata the UI shows: failing rules and
columns, violating row counts with hashed examples, the landing funnel.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import dagster as dg
from pandera.api.checks import Check
from pandera.pyspark import DataFrameModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

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


def _check_expression(check: Check, value: Column) -> Column:
    """The Spark condition a row's value must meet for a Pandera `Field` check to pass."""
    if check.name == "str_matches":
        pattern = check.statistics["pattern"]
        pattern = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
        return value.rlike(pattern if pattern.startswith("^") else f"^{pattern}")
    raise NotImplementedError(
        f"Pandera check {check.name!r} has no one-pass form yet: add it to "
        "stedi_assets.checks._check_expression."
    )


def rule_failures(model: type[DataFrameModel], rows: DataFrame) -> list[dict[str, Any]]:
    """Every rule of the Pandera `model` that `rows` break, each named as Pandera names it, with
    its column and, for rules on values, how many rows break it."""
    return counted_rule_failures(model, rows)[0]


def counted_rule_failures(
    model: type[DataFrameModel], rows: DataFrame
) -> tuple[list[dict[str, Any]], int]:
    """`rule_failures`, and the number of rows, from one pass over them.

    The model is the one definition of the rules; they are evaluated here rather than by
    `model.validate`, which runs a Spark job per rule: the rules on the schema (strictness,
    columns, types) are read from the DataFrame's schema, and every rule on values
    (nullability, each `Field` check, uniqueness) is counted in one aggregate, one Spark job,
    which also counts the rows (the publish flow would otherwise count them in a job of its own).
    """
    schema = model.to_schema()
    types = {field.name: field.dataType for field in rows.schema.fields}
    failures: list[dict[str, Any]] = []
    if schema.strict:
        failures += [
            {"rule": "column_in_schema", "column": name}
            for name in types
            if name not in schema.columns
        ]
    counted: list[tuple[str, str]] = []
    counts: list[Column] = [F.count(F.lit(1))]
    for name, column in schema.columns.items():
        if name not in types:
            failures.append({"rule": "column_in_dataframe", "column": name})
            continue
        if types[name] != column.dtype.type:
            failures.append({"rule": f"dtype('{column.dtype}')", "column": name})
        value = F.col(f"`{name}`")
        if not column.nullable:
            counted.append(("not_nullable", name))
            counts.append(F.count_if(value.isNull()))
        for check in column.checks:
            counted.append((check.error or check.name, name))
            counts.append(F.count_if(~_check_expression(check, value)))
    unique = list(schema.unique or [])
    if unique and not all(name in types for name in unique):
        failures.append({"rule": "unique", "column": ", ".join(unique)})
    elif unique:
        counted.append(("unique", ", ".join(unique)))
        keys = F.struct(*(F.col(f"`{name}`") for name in unique))
        counts.append(F.count(F.lit(1)) - F.count_distinct(keys))
    row_count, *rule_counts = rows.agg(*counts).first()
    failures += [
        {"rule": rule, "column": name, "rows": count}
        for (rule, name), count in zip(counted, rule_counts, strict=True)
        if count
    ]
    return failures, row_count


def schema_check(table: ZoneTable, rows: DataFrame) -> tuple[dg.AssetCheckResult, int]:
    """The table's Pandera model on `rows`: every rule broken, with its column and row count;
    and how many rows there are."""
    failures, row_count = counted_rule_failures(table.model, rows)
    result = dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not failures,
        metadata={
            "failed_rules": len(failures),
            "failing_columns": sorted({failure["column"] for failure in failures}),
            "failures": dg.MetadataValue.json(failures),
        },
    )
    return result, row_count


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
