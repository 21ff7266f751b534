"""Checking a change before it is written: the table's rules, its privacy invariant and (for a
trusted table) the accounting of landing lines, with the row count, the content digest's sums,
the preview and the charts, all answered by one Spark job; then the verdicts."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import dagster as dg
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi_assets.contract.accounting import Accounting, TrustedBuild
from stedi_assets.contract.landing import FUTURE_TIME
from stedi_assets.publishing.change import Change
from stedi_assets.publishing.increment_plan import FEW_NEW_BYTES, Increment
from stedi_assets.publishing.metadata import Chart, preview, preview_part
from stedi_assets.publishing.publication import Publication
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets.tables import checks
from stedi_assets.tables.zone_table import ZoneTable


@dataclass(frozen=True)
class Verdict:
    """The checks' results on a change, and what the table will hold after it."""

    results: list[dg.AssetCheckResult]
    row_count: int
    """Rows of the table after the change."""
    added_count: int
    removed_count: int
    content_sums: list[Decimal] | None
    """The table's content sums after the change (None: an earlier record lacks them)."""
    first_future_time_ms: int | None
    accounting: Accounting | None
    preview: dg.MarkdownMetadataValue
    charts: Mapping[str, object] = field(default_factory=dict)
    """The charts, drawn, by metadata key."""
    chart_counts: Mapping[str, list[int]] = field(default_factory=dict)
    """The charts' counts, by metadata key: the table's record keeps them for an increment to
    change."""
    seconds: float = 0.0

    @property
    def blocking_failures(self) -> list[str]:
        return [
            result.check_name
            for result in self.results
            if not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        ]


def verify(
    context: dg.AssetExecutionContext,
    table: ZoneTable,
    publication: Publication,
    change: Change,
    published_preview: dg.MarkdownMetadataValue | None,
) -> Verdict:
    """Check `change` in one Spark job. `published_preview`: the published version's preview,
    kept when the table only grows (it still holds the rows it shows)."""
    started = time.perf_counter()
    rules = checks.rule_counts(table.model, change.added_rows)
    violations = publication.privacy_violations(change.rows_to_judge(publication.judged_keys))
    charts = _charts(publication, change)
    job = _Job(rules, change, violations, charts, publication.parsed_landing, published_preview)
    answers = job.answer()
    failures, added_count = rules.failures(job.rule_answers(answers))
    removed_count, removed_sums = _removed(answers)
    increment = change.increment
    row_count = added_count
    if increment is not None:
        row_count = increment.record.row_count - removed_count + added_count
    accounting = _accounting(publication.build, increment)
    context.log.info(f"{table.name}: {row_count} rows built; checking them before publishing")
    if accounting is not None:
        context.log.info(f"{table.name}: landing lines {accounting.as_metadata()}")
    (violation_count,) = answers["violations"]
    chart_counts = {name: chart.counts(answers[f"chart_{name}"]) for name, chart in charts.items()}
    results = [
        checks.schema_check(failures),
        checks.privacy_check(table, violations, violation_count),
    ]
    if publication.build is not None and accounting is not None:
        results += checks.accounting_checks(accounting, row_count, publication.build.erased_lines)
    return Verdict(
        results=results,
        row_count=row_count,
        added_count=added_count,
        removed_count=removed_count,
        content_sums=_content_sums(increment, summed_hashes(answers["content"]), removed_sums),
        first_future_time_ms=_first_future_time(answers, increment),
        accounting=accounting,
        preview=published_preview or preview(change.added_rows.columns, answers["preview"][0]),
        charts={name: charts[name].draw(counts) for name, counts in chart_counts.items()},
        chart_counts=chart_counts,
        seconds=time.perf_counter() - started,
    )


def _charts(publication: Publication, change: Change) -> dict[str, Chart]:
    """The publication's charts of the table after `change`: over the whole table; or, for an
    increment that only adds the records of a few new landing bytes (nothing upstream changed)
    to a table whose record kept the charts' counts, those counts changed by the added rows."""
    increment = change.increment
    recorded = (increment.record.charts or {}) if increment is not None else {}
    grows = (
        increment is not None
        and not increment.upstream
        and change.removed_keys is None
        and sum(file.size for file in increment.files) <= FEW_NEW_BYTES
    )
    return {
        name: chart.grown(change.kept_rows, change.added_rows, recorded[name])
        if grows and change.kept_rows is not None and name in recorded
        else chart.whole(change.whole_table)
        for name, chart in publication.charts.items()
    }


class _Job:
    """The aggregates of a change's checks, by name, answered in one Spark job."""

    def __init__(
        self,
        rules: checks.RuleCounts,
        change: Change,
        violations: DataFrame,
        charts: Mapping[str, Chart],
        parsed_landing: Sequence[DataFrame],
        published_preview: object,
    ) -> None:
        rule_parts = rules.aggregates(change.added_rows)
        self.rule_names = [f"rules_{i}" for i in range(len(rule_parts))]
        self.parts: dict[str, tuple[DataFrame, list[Column]]] = dict(
            zip(self.rule_names, rule_parts, strict=True)
        )
        if published_preview is None:
            self.parts["preview"] = preview_part(change.whole_table)
        self.parts["content"] = (change.added_rows, content_aggregates(change.added_rows))
        if change.removed_rows is not None:
            removed = change.removed_rows
            self.parts["removed"] = (removed, [F.count(F.lit(1)), *content_aggregates(removed)])
        self.parts["violations"] = (violations, [F.count(F.lit(1))])
        for name, chart in charts.items():
            self.parts[f"chart_{name}"] = (chart.rows, list(chart.columns))
        for index, parsed in enumerate(parsed_landing):
            self.parts[f"future_{index}"] = (parsed, [F.min(FUTURE_TIME)])

    def answer(self) -> dict[str, Row]:
        names = list(self.parts)
        return dict(zip(names, aggregate_in_one_job(*self.parts.values()), strict=True))

    def rule_answers(self, answers: Mapping[str, Row]) -> list[Row]:
        return [answers[name] for name in self.rule_names]


HASH_SEEDS = (None, "stedi content")
"""The two hashes of `content_aggregates`: unseeded, and seeded with a constant."""


PIECE_BITS = 21
"""Each hash is summed in three pieces: its top 22 bits (signed) and two of 21 bits. Spark sums
longs several times faster than 38-digit decimals, and each piece's sum fits a long up to 2^41
rows."""


def content_aggregates(rows: DataFrame) -> list[Column]:
    """The sums of each row's `content_hashes`, exactly, as the sums of their pieces
    (`summed_hashes` puts them together): with the row count and the schema, a digest of the
    rows as a multiset."""
    low_bits = F.lit((1 << PIECE_BITS) - 1)
    return [
        F.sum(piece)
        for hashed in content_hashes(rows)
        for piece in (
            F.shiftright(hashed, 2 * PIECE_BITS),
            F.shiftright(hashed, PIECE_BITS).bitwiseAND(low_bits),
            hashed.bitwiseAND(low_bits),
        )
    ]


def content_hashes(rows: DataFrame) -> list[Column]:
    """Two 64-bit hashes of a row (`HASH_SEEDS`) of its columns' values and of which of them
    are null (a hash passes over a null), so a null is told from any value. Hashing the
    columns took a fifth of the time of hashing each row's JSON."""
    values = [_hashable(field) for field in rows.schema.fields]
    nulls = [_null_mask(rows.columns[start : start + 62]) for start in range(0, len(values), 62)]
    return [F.xxhash64(*([F.lit(seed)] if seed else []), *nulls, *values) for seed in HASH_SEEDS]


def _hashable(field: T.StructField) -> Column:
    """A column as Spark's hash takes it: one of a simple type as it is; any other as JSON, since
    the hash cannot read a map or a variant and passes over a null inside an array or struct
    (JSON writes it)."""
    column = F.col(f"`{field.name}`")
    if isinstance(field.dataType, T.AtomicType) and not isinstance(field.dataType, T.VariantType):
        return column
    return F.to_json(F.struct(column))


def _null_mask(names: Sequence[str]) -> Column:
    """A long whose bit i says whether the i-th of `names` (at most 62) is null."""
    bits = (F.col(f"`{name}`").isNull().cast("long") * (1 << bit) for bit, name in enumerate(names))
    return sum(bits, F.lit(0).cast("long"))


def summed_hashes(sums: Sequence[int | None]) -> list[Decimal]:
    """The exact sums of `content_aggregates`' hashes, from the sums of their pieces (null over
    no rows)."""
    pieces = [value or 0 for value in sums]
    return [
        Decimal((top << 2 * PIECE_BITS) + (middle << PIECE_BITS) + bottom)
        for top, middle, bottom in zip(pieces[::3], pieces[1::3], pieces[2::3], strict=True)
    ]


def _removed(answers: Mapping[str, Row]) -> tuple[int, list[Decimal]]:
    """How many published rows the change removes, and their content sums."""
    if "removed" not in answers:
        return 0, [Decimal(0)] * len(HASH_SEEDS)
    count, *sums = answers["removed"]
    return count, summed_hashes(sums)


def _content_sums(
    increment: Increment | None, added: list[Decimal], removed: list[Decimal]
) -> list[Decimal] | None:
    """The table's content sums after the change: a build's own; the published version's,
    plus the added rows' and minus the removed ones', for an increment."""
    if increment is None:
        return added
    earlier = increment.record.content_sums
    if earlier is None:
        return None
    return [
        Decimal(before) + plus - minus
        for before, plus, minus in zip(earlier, added, removed, strict=True)
    ]


def _first_future_time(answers: Mapping[str, Row], increment: Increment | None) -> int | None:
    """The earliest time dated after the latest plausible one, in the landing lines read and
    (for an increment) in those the published version was built from."""
    times = [
        answers[name][0]
        for name in answers
        if name.startswith("future_") and answers[name][0] is not None
    ]
    if increment is not None and increment.record.first_future_time_ms is not None:
        times.append(increment.record.first_future_time_ms)
    return min(times, default=None)


def _accounting(build: TrustedBuild | None, increment: Increment | None) -> Accounting | None:
    """A trusted table's accounting of landing lines: a build's own; for an increment, the
    published version's and the new lines' together."""
    if build is None:
        return None
    if increment is None:
        return build.accounting
    before = increment.record.accounting or {}
    added = build.accounting
    return Accounting(
        lines_read=before.get("lines_read", 0) + added.lines_read,
        blank_lines=before.get("blank_lines", 0) + added.blank_lines,
        counts={kind: before.get(kind, 0) + count for kind, count in added.counts.items()},
    )
