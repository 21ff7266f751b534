"""What a materialization shows an analyst, beyond counts: masked previews and small charts.

Dagster renders Markdown metadata in the UI, so the charts here are Markdown tables with
bars. Dagster's storage keeps this metadata for good (an erasure cannot reach it), so nothing
in it may identify a person: previews hide every personal field whole (no initial, no digit of
a phone, no serial number) and show times by their day; examples in check failures replace
personal fields with a hash salted with a secret of the process, which no one can reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi_assets.tables.personal_data import MASK, PERSONAL_COLUMNS, TIMES

PREVIEW_ROWS = 5
BAR_WIDTH = 30


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _bar(value: int, largest: int) -> str:
    return "█" * round(BAR_WIDTH * value / largest) if largest else ""


def bar_chart(title: str, unit: str, counts: Mapping[str, int]) -> dg.MarkdownMetadataValue:
    """A horizontal bar chart as a Markdown table: label, count, share, bar."""
    total, largest = sum(counts.values()), max(counts.values(), default=0)
    rows = [
        (label, f"{count:,}", f"{100 * count / total:.1f} %" if total else "", _bar(count, largest))
        for label, count in counts.items()
    ]
    return dg.MetadataValue.md(f"**{title}**\n\n" + markdown_table(["", unit, "share", ""], rows))


def _shown(row: Column, name: str) -> Column:
    """A field of a row as a preview shows it."""
    if name in PERSONAL_COLUMNS:
        return F.lit(MASK).alias(name)
    if name in TIMES:
        return F.date_format(F.timestamp_millis(row[name]), "yyyy-MM-dd").alias(name)
    return row[name].alias(name)


def preview_part(rows: DataFrame) -> tuple[DataFrame, list[Column]]:
    """The preview as a part of the checks' one Spark job (`one_job.aggregate_in_one_job`):
    the table's first `PREVIEW_ROWS` rows in the order of its columns' values (those of simple
    types: a map, for one, has no order), personal fields masked; the same rows every time the
    table holds the same rows. The rows chosen are masked, not every row.

    The first rows are taken by sorting and limiting, which Spark plans as a top-k in each
    partition: on a large table, a third of the time of the aggregate `min_by(row, order, k)`,
    which runs outside Spark's generated code."""
    orderable = [
        F.col(f"`{field.name}`")
        for field in rows.schema.fields
        if isinstance(field.dataType, T.AtomicType)
        and not isinstance(field.dataType, T.VariantType)
    ]
    first = (rows.orderBy(*orderable) if orderable else rows).limit(PREVIEW_ROWS)
    order = F.struct(*orderable) if orderable else F.lit(0)
    pairs = F.collect_list(
        F.struct(
            order.alias("order"), F.struct(*(F.col(f"`{n}`") for n in rows.columns)).alias("row")
        )
    )
    in_order = F.array_sort(
        pairs,
        lambda a, b: (
            F.when(a["order"] < b["order"], -1).when(a["order"] > b["order"], 1).otherwise(0)
        ),
    )
    shown = F.transform(
        in_order, lambda pair: F.struct(*(_shown(pair["row"], name) for name in rows.columns))
    )
    return first, [F.when(F.size(shown) > 0, shown)]  # an empty table: no sample (null)


def preview(columns: Sequence[str], sample: Sequence[Row] | None) -> dg.MarkdownMetadataValue:
    """The rows of a `preview_part` as a Markdown table (an empty table has none)."""
    return dg.MetadataValue.md(markdown_table(columns, [tuple(row) for row in sample or []]))


READINGS_BUCKETS = ((1, 1), (2, 10), (11, 50), (51, 100), (101, 500), (501, None))


def _bucket_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return f"{low}" if low == high else f"{low}-{high}"


def _in_bucket(count: Column, low: int, high: int | None) -> Column:
    return count >= low if high is None else count.between(low, high)


@dataclass(frozen=True)
class Chart:
    """A bar chart of counts by label, tallied in the Spark job that checks the table:
    `publishing` asks for its `columns` (one count per label) over its `rows`, and adds the
    answer to `base` (for a chart kept up to date by an increment, the published counts)."""

    title: str
    unit: str
    labels: Sequence[str]
    rows: DataFrame
    columns: Sequence[Column]
    base: Sequence[int] | None = None

    def counts(self, answer: Row) -> list[int]:
        """The chart's counts, by label in order, from the answer to its `columns`."""
        base = self.base or [0] * len(self.labels)
        return [before + (change or 0) for before, change in zip(base, answer, strict=True)]

    def draw(self, counts: Sequence[int]) -> dg.MarkdownMetadataValue:
        return bar_chart(self.title, self.unit, dict(zip(self.labels, counts, strict=True)))


@dataclass(frozen=True)
class ReadingsPerCustomer:
    """How many customers have how many readings: a thin tail means little training data.

    Drawn over the whole table by a build; an increment that only adds readings changes the
    published counts by those of the customers it adds readings of, so the table's history is
    read for those customers alone (`grown`)."""

    person: str
    title: str = "Customers by number of readings"
    unit: str = "customers"

    def whole(self, readings: DataFrame) -> Chart:
        """The chart of every reading."""
        per_person = readings.groupBy(self.person).agg(F.count(F.lit(1)).alias("readings"))
        in_bucket = (_in_bucket(F.col("readings"), low, high) for low, high in READINGS_BUCKETS)
        return self._chart(per_person, [F.count_if(bucket) for bucket in in_bucket])

    def grown(
        self, published: DataFrame, added: DataFrame, published_counts: Sequence[int]
    ) -> Chart:
        """The chart after `added` readings join the `published` ones, whose chart counted
        `published_counts`: each customer with added readings leaves the bucket of their
        published readings for that of their readings now. Those customers are few (the
        readings of a few new files) and broadcast, so the published readings are scanned,
        not shuffled."""
        person, count = self.person, F.count(F.lit(1))
        added_per_person = added.groupBy(person).agg(count.alias("added"))
        people = F.broadcast(added_per_person.select(person))
        before = (
            published.join(people, person, "left_semi").groupBy(person).agg(count.alias("before"))
        )
        changed = added_per_person.join(before, person, "left").select(
            F.col("before"), (F.coalesce(F.col("before"), F.lit(0)) + F.col("added")).alias("now")
        )
        return self._chart(
            changed,
            [
                F.count_if(_in_bucket(F.col("now"), low, high))
                - F.count_if(_in_bucket(F.col("before"), low, high))
                for low, high in READINGS_BUCKETS
            ],
            base=published_counts,
        )

    def _chart(
        self, rows: DataFrame, columns: Sequence[Column], base: Sequence[int] | None = None
    ) -> Chart:
        labels = [_bucket_label(low, high) for low, high in READINGS_BUCKETS]
        return Chart(self.title, self.unit, labels, rows, columns, base)
