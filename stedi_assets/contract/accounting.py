"""Where every landing line went: the accounting each trusted table publishes with its rows.

A trusted table is built by giving every distinct valid record a `disposition` (kept, no consent,
…) and a number of extra `copies` (a redelivered line is a duplicate of the first). The table is
the kept records; the accounting counts the rest, so an analyst can see that nothing was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stedi_assets.contract.landing import ERASED, FileSplits, summarize_splits

KEPT = "kept"
QUARANTINED = "quarantined"
DUPLICATE = "duplicate"
SUPERSEDED = "superseded"
NO_CONSENT = "no_consent"
BEFORE_CONSENT = "before_consent"
WITHHELD = "withheld"
LINE_DISPOSITIONS = (QUARANTINED, ERASED)
"""Where lines go before they are records: quarantined, or dropped as an erased person's."""


@dataclass(frozen=True)
class Accounting:
    """Counts of landing lines by where they went; `dispositions` names what this table counts."""

    lines_read: int
    blank_lines: int
    counts: dict[str, int]

    @property
    def accounted(self) -> int:
        return sum(self.counts.values())

    @property
    def balances(self) -> bool:
        return self.accounted == self.lines_read

    def as_metadata(self) -> dict[str, int]:
        return {
            "lines_read": self.lines_read,
            **self.counts,
            "blank_lines": self.blank_lines,
        }


@dataclass(frozen=True)
class TrustedBuild:
    """What building a trusted table yields: its rows, its quarantine and the accounting."""

    rows: DataFrame
    quarantine: DataFrame
    accounting: Accounting
    records: DataFrame
    """The distinct valid records the build read that no earlier build had read (all of them
    in a full build): what a later increment compares its new lines with."""
    erased_lines: dict[str, int]
    """Per landing file read, how many of its lines were an erased person's (dropped): files
    that deliver their data again, to erase upstream once more."""


def valid_records(parsed: DataFrame) -> DataFrame:
    """The records of a parsed landing source that satisfy the contract's parsing rules, of
    people who were not erased."""
    return parsed.where(~F.col("blank") & F.col("reason").isNull() & ~F.col(ERASED))


def _summarize_lines(parsed: DataFrame) -> FileSplits:
    """The line numbering of `parsed`, and its blank, quarantined and erased lines counted, in
    one aggregate."""
    erased = F.col(ERASED)
    return summarize_splits(
        parsed,
        {
            "blank": F.col("blank"),
            QUARANTINED: ~F.col("blank") & F.col("reason").isNotNull() & ~erased,
            ERASED: erased,
        },
    )


def _quarantined(parsed: DataFrame, splits: FileSplits) -> DataFrame:
    quarantined = parsed.where(F.col("reason").isNotNull() & ~F.col(ERASED))
    return splits.numbered(quarantined).select("source_file", "line_number", "line", "reason")


def quarantined_lines(parsed: DataFrame) -> DataFrame:
    """The lines that broke the contract: file, line number, the line as it was, every reason."""
    return _quarantined(parsed, _summarize_lines(parsed))


def trusted_build(
    parsed: DataFrame,
    classified: DataFrame,
    columns: Sequence[str],
    dispositions: tuple[str, ...],
    record_columns: Sequence[str] | None = None,
) -> TrustedBuild:
    """A trusted table (the `columns` of the records of `classified` that are kept), the
    quarantined lines of `parsed` and the accounting of every line; `classified` has one row
    per distinct valid record with `disposition` and `copies` (lines beyond the first that
    carried the same record, counted as duplicates), and is cached for the table and the count
    when `parsed` is (an empty relation is not: Spark sees through it without a job).
    The records keep `record_columns` (by default `columns`).

    Two aggregates, a Spark job each (and the jobs of the broadcasts in their plans): one over
    the lines (numbering, blank and quarantined lines) and one over the dispositions."""
    record_columns = list(record_columns or columns)
    kept_columns = list(dict.fromkeys([*columns, *record_columns]))
    classified = classified.select("disposition", "copies", *kept_columns)
    if parsed.is_cached:  # not the empty lines of an increment without a file (`load_landing`)
        classified = classified.persist()
    rows = classified.where(F.col("disposition") == KEPT).select(*columns)
    splits = _summarize_lines(parsed)
    per_disposition = classified.groupBy("disposition").agg(
        F.count(F.lit(1)).alias("records"), F.sum("copies").alias("copies")
    )
    counts = dict.fromkeys(dispositions, 0)
    for kind in LINE_DISPOSITIONS:
        counts[kind] = splits.kind_counts[kind]
    for row in per_disposition.collect():
        counts[row["disposition"]] += row["records"]
        if row["copies"]:
            counts[DUPLICATE] += row["copies"]
    blank_lines = splits.kind_counts["blank"]
    accounting = Accounting(
        lines_read=splits.lines - blank_lines, blank_lines=blank_lines, counts=counts
    )
    return TrustedBuild(
        rows=rows,
        quarantine=_quarantined(parsed, splits),
        accounting=accounting,
        records=classified.where(F.col("disposition") != DUPLICATE).select(*record_columns),
        erased_lines={
            file: counts[ERASED]
            for file, counts in splits.kind_counts_by_file.items()
            if counts[ERASED]
        },
    )


def distinct_records(
    records: DataFrame, columns: Sequence[str], read_before: DataFrame | None, few: bool = False
) -> DataFrame:
    """One row per distinct record of `records`, with `copies` (how many more lines carried
    it) and `read_before`: true when an earlier build read it (`TrustedBuild.records` of the
    builds before an increment), so every line carrying it here is a duplicate.

    The earlier records are read once and matched against the new ones; when those are `few`
    (what a few new files hold) they are broadcast, so the earlier ones are not shuffled."""
    distinct = records.groupBy(*columns).agg((F.count(F.lit(1)) - 1).alias("copies"))
    if read_before is None:
        return distinct.withColumn("read_before", F.lit(False))
    new = distinct.select(*columns)
    repeated = (
        read_before.select(*columns)
        .join(F.broadcast(new) if few else new, list(columns), "left_semi")
        .withColumn("read_before", F.lit(True))
    )
    return distinct.join(repeated, list(columns), "left").withColumn(
        "read_before", F.coalesce(F.col("read_before"), F.lit(False))
    )


def unless_read_before(disposition: Column) -> Column:
    """`duplicate` for a record an earlier build read (it had its disposition then),
    otherwise `disposition`."""
    return F.when(F.col("read_before"), F.lit(DUPLICATE)).otherwise(disposition)


def disposition_by_consent(
    reading_time: Column, consent_time: Column, since_consent: bool
) -> Column:
    """`no_consent` without a consenting customer, `before_consent` before their consent date."""
    disposition = F.when(consent_time.isNull(), F.lit(NO_CONSENT))
    if since_consent:
        disposition = disposition.when(reading_time < consent_time, F.lit(BEFORE_CONSENT))
    return disposition.otherwise(F.lit(KEPT))
