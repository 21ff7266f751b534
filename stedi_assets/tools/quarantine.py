"""`stedi quarantine`: the landing lines that broke the contract, counted by reason, with a few
example lines of each (personal fields masked unless asked)."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.tables.personal_data import masked_line


def quarantine_report(
    spark: SparkSession,
    layout: LakeLayout,
    sources: Sequence[str],
    reason: str | None = None,
    limit: int = 3,
    show_personal: bool = False,
) -> list[str]:
    """Per source: its quarantined lines by reason (most frequent first), each reason with up
    to `limit` example lines (file and line number); `reason` keeps the reasons holding it."""
    lines: list[str] = []
    for source in sources:
        rows = delta_tables.read_table_if_exists(spark, layout.quarantine(source))
        if rows is None:
            lines.append(f"{source}: no quarantine table yet ({layout.quarantine(source)})")
            continue
        if reason:
            rows = rows.where(F.lower("reason").contains(reason.lower()))
        lines += _source_report(source, rows, limit, show_personal)
    return lines


def _source_report(source: str, rows: DataFrame, limit: int, show_personal: bool) -> list[str]:
    counts = rows.groupBy("reason").count().orderBy(F.desc("count"), "reason").collect()
    total = sum(row["count"] for row in counts)
    lines = [f"{source}: {total:,} quarantined lines, {len(counts)} reasons"]
    place = Window.partitionBy("reason").orderBy("source_file", "line_number")
    examples: dict[str, list[tuple[str, int, str]]] = {}
    for row in (
        rows.withColumn("n", F.row_number().over(place))
        .where(F.col("n") <= limit)
        .select("reason", "source_file", "line_number", "line")
        .collect()
    ):
        examples.setdefault(row["reason"], []).append(
            (row["source_file"], row["line_number"], row["line"] or "")
        )
    for count in counts:
        lines.append(f"  {count['count']:>8,}  {count['reason']}")
        for file, number, text in examples.get(count["reason"], []):
            shown = text if show_personal else masked_line(text)
            lines.append(f"            {file.rsplit('/', 1)[-1]}:{number}  {shown[:160]}")
    return lines
