"""The asset checks of a zone table: their specs, and their results on the rows to publish.

Each zone table has a blocking `schema` check (its Pandera model) and a blocking privacy check
(its invariant); a trusted table also has the blocking accounting of its landing lines, a
warning when lines were quarantined and a warning when lines of erased people were delivered
again. Results carry the metadata the UI shows: failing rules and
columns, violating row counts with hashed examples, the landing funnel.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg
from pandera.api.checks import Check
from pandera.pyspark import DataFrameModel
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import QUARANTINED, Accounting
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets.tables.catalogue import (
    ACCOUNTING_CHECK,
    ERASED_CHECK,
    QUARANTINE_CHECK,
    SCHEMA_CHECK,
)
from stedi_assets.tables.personal_data import example_keys

if TYPE_CHECKING:
    from stedi_assets.tables.zone_table import ZoneTable


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
            dg.AssetCheckSpec(
                ERASED_CHECK,
                asset=table.key,
                description=f"Warns when {source} landing files deliver lines of an erased "
                "person again: they were dropped (counted `erased`), and the files named "
                "should be erased upstream too.",
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
        "stedi_assets.tables.checks._check_expression."
    )


def rule_failures(model: type[DataFrameModel], rows: DataFrame) -> list[dict[str, Any]]:
    """Every rule of the Pandera `model` that `rows` break, each named as Pandera names it, with
    its column and, for rules on values, how many rows break it."""
    rules = rule_counts(model, rows)
    return rules.failures(aggregate_in_one_job(*rules.aggregates(rows)))[0]


@dataclass(frozen=True)
class RuleCounts:
    """A Pandera model's rules on some rows, ready to be counted in one Spark job.

    The model is the one definition of the rules; they are evaluated here rather than by
    `model.validate`, which runs a Spark job per rule: the rules on the schema (strictness,
    columns, types) are read from the DataFrame's schema (`schema_failures`), and every rule on
    values (nullability, each `Field` check) is an aggregate column counting the rows that
    break it (`columns`, after a first column counting the rows: the publish flow would
    otherwise count them in a job of its own). Uniqueness is counted over the rows grouped by
    the unique key (`unique_key`): as a distinct count beside the other aggregates it would
    make Spark keep every other aggregate's state per key."""

    schema_failures: list[dict[str, Any]]
    counted: list[tuple[str, str]]
    columns: list[Column]
    unique_key: list[str]

    def aggregates(
        self, rows: DataFrame, also: Sequence[Column] = ()
    ) -> list[tuple[DataFrame, list[Column]]]:
        """The aggregates that count the rules on `rows`, for `aggregate_in_one_job`; `also`,
        more aggregate columns over `rows`, come after the rules' in the first one's answer."""
        aggregates = [(rows, [*self.columns, *also])]
        if self.unique_key:
            per_key = rows.groupBy(*(F.col(f"`{name}`") for name in self.unique_key)).agg(
                F.count(F.lit(1)).alias("rows_with_key")
            )
            aggregates.append((per_key, [F.sum(F.col("rows_with_key") - 1)]))
        return aggregates

    def failures(self, answers: Sequence[Row]) -> tuple[list[dict[str, Any]], int]:
        """The rules broken, given the answers to `aggregates`; and the number of rows."""
        row_count, *broken_rows = answers[0][: len(self.columns)]
        if self.unique_key:
            broken_rows.append(answers[1][0] or 0)
        failures = self.schema_failures + [
            {"rule": rule, "column": name, "rows": count}
            for (rule, name), count in zip(self.counted, broken_rows, strict=True)
            if count
        ]
        return failures, row_count


def rule_counts(model: type[DataFrameModel], rows: DataFrame) -> RuleCounts:
    """The rules of `model` on `rows`, as `RuleCounts`."""
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
        unique = []
    elif unique:
        counted.append(("unique", ", ".join(unique)))
    return RuleCounts(failures, counted, counts, unique)


def schema_check(failures: list[dict[str, Any]]) -> dg.AssetCheckResult:
    """The result of a table's Pandera model: every rule broken, with its column and row count."""
    return dg.AssetCheckResult(
        check_name=SCHEMA_CHECK,
        passed=not failures,
        metadata={
            "failed_rules": len(failures),
            "failing_columns": sorted({failure["column"] for failure in failures}),
            "failures": dg.MetadataValue.json(failures),
        },
    )


def privacy_check(table: ZoneTable, violations: DataFrame, count: int) -> dg.AssetCheckResult:
    """Passes when no row breaks the table's privacy invariant (`count` rows of `violations`
    do); else the count and a few examples."""
    metadata: dict[str, Any] = {"rule": table.privacy_rule, "violating_rows": count}
    if count:
        metadata["examples"] = dg.MetadataValue.json(example_keys(violations, table.example_key))
    return dg.AssetCheckResult(
        check_name=table.table.privacy_check, passed=count == 0, metadata=metadata
    )


def accounting_checks(
    accounting: Accounting, row_count: int, erased_lines: dict[str, int]
) -> list[dg.AssetCheckResult]:
    """The landing lines' accounting (blocking), the quarantine's warning and the warning of
    lines of erased people delivered again (`erased_lines`: per file, how many)."""
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
        dg.AssetCheckResult(
            check_name=ERASED_CHECK,
            passed=not erased_lines,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "erased_lines": sum(erased_lines.values()),
                "files": dg.MetadataValue.json(erased_lines),
            },
        ),
    ]
