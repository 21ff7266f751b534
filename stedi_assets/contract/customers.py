"""Customers: identity by email, the current record of each, and who consents to research."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import (
    KEPT,
    NO_CONSENT,
    QUARANTINED,
    SUPERSEDED,
    Accounting,
    TrustedBuild,
    trusted_build,
    valid_records,
)
from stedi_assets.contract.erasure import ErasedHashes
from stedi_assets.contract.identity import normalized_email
from stedi_assets.contract.landing import CUSTOMER, ERASED, load_landing
from stedi_assets.contract.plausibility import PlausibleRanges

CUSTOMER_DISPOSITIONS = (KEPT, QUARANTINED, SUPERSEDED, NO_CONSENT, ERASED)


def load_customers(
    spark: SparkSession,
    files: Sequence[str],
    ranges: PlausibleRanges,
    erased: ErasedHashes | None = None,
) -> DataFrame:
    """Parsed customer landing, with each valid line's text kept for breaking ties."""
    return load_landing(spark, files, CUSTOMER, ranges, keep_valid_lines=True, erased=erased)


RECORD_COLUMNS = [*CUSTOMER.columns, "line"]
"""A customer record as the parsed records keep it: its line text breaks ties."""


def customer_records(parsed_customers: DataFrame) -> DataFrame:
    """The valid records of parsed customer landing, with a normalised email and their line."""
    return (
        valid_records(parsed_customers)
        .withColumn("email", normalized_email(F.col("email")))
        .select(*RECORD_COLUMNS)
    )


def _with_current_flag(records: DataFrame) -> DataFrame:
    """`records` (`customer_records`) with `is_current`.

    The current record of an email has the greatest `lastUpdateDate`; a tie goes to the greatest
    line text, so the choice never depends on file names or the order files are read in.
    """
    newest_first = Window.partitionBy("email").orderBy(
        F.col("lastUpdateDate").desc(), F.col("line").desc()
    )
    return records.withColumn("is_current", F.row_number().over(newest_first) == 1)


def with_current_flag(parsed_customers: DataFrame) -> DataFrame:
    """Valid customer records with a normalised email and `is_current`."""
    return _with_current_flag(customer_records(parsed_customers))


def current_customer_records(parsed_customers: DataFrame) -> DataFrame:
    """The current record of every customer, consenting or not."""
    return with_current_flag(parsed_customers).where("is_current").select(*CUSTOMER.columns)


def _classified(records: DataFrame) -> DataFrame:
    """Customer records (`customer_records`) with their disposition: superseded unless current,
    no consent without a consent date, else kept."""
    return (
        _with_current_flag(records)
        .withColumn(
            "disposition",
            F.when(~F.col("is_current"), F.lit(SUPERSEDED))
            .when(F.col("shareWithResearchAsOfDate").isNull(), F.lit(NO_CONSENT))
            .otherwise(F.lit(KEPT)),
        )
        .withColumn("copies", F.lit(0))
    )


def build_customer_trusted(parsed_customers: DataFrame) -> TrustedBuild:
    """customer_trusted: the current record of each customer who shares data with research.

    Its records are every valid record, with its line (`RECORD_COLUMNS`); the records of an
    erased person (dropped when parsed, `load_landing`) are none of them."""
    classified = _classified(customer_records(parsed_customers))
    return trusted_build(
        parsed_customers, classified, CUSTOMER.columns, CUSTOMER_DISPOSITIONS, RECORD_COLUMNS
    )


@dataclass(frozen=True)
class CustomerIncrement:
    """What new customer files change: the customers they name, and those customers' rows."""

    build: TrustedBuild
    """The rows of the customers named (all that they now keep), the new lines' quarantine,
    the accounting moved (every record of theirs judged again) and the new records."""
    emails: DataFrame
    """The customers the new records name: their rows are replaced."""
    current: DataFrame
    """Their current records, consenting or not."""
    newest_update: DataFrame
    """Their newest `lastUpdateDate` (for the privacy check)."""


def customer_increment(new_customers: DataFrame, records_before: DataFrame) -> CustomerIncrement:
    """customer_trusted changed by new customer files (`new_customers`, parsed), given every
    record read before (`records_before`, `customer_records`): each customer the new records
    name is judged again over all their records, old and new; no other customer's current
    record can change. The accounting is the published one plus the new lines and the moves:
    the dispositions of the named customers' records now, less those of their old records."""
    new = customer_records(new_customers)
    emails = new.select("email").distinct().persist()
    earlier = (  # read four times: the build, the moves, the current records, the newest dates
        records_before.select(*RECORD_COLUMNS)
        .join(F.broadcast(emails), "email", "left_semi")
        .persist()
    )
    theirs = earlier.unionByName(new)
    build = trusted_build(
        new_customers,
        _classified(theirs),
        CUSTOMER.columns,
        CUSTOMER_DISPOSITIONS,
        RECORD_COLUMNS,
    )
    counts = dict(build.accounting.counts)
    before = _classified(earlier).groupBy("disposition").count()
    for row in before.collect():
        counts[row["disposition"]] -= row["count"]
    accounting = Accounting(build.accounting.lines_read, build.accounting.blank_lines, counts)
    return CustomerIncrement(
        build=replace(build, accounting=accounting, records=new),
        emails=emails,
        current=_with_current_flag(theirs).where("is_current").select(*CUSTOMER.columns),
        newest_update=theirs.groupBy("email").agg(F.max("lastUpdateDate").alias("newest_update")),
    )


def build_customers_curated(
    customer_trusted: DataFrame, accelerometer_trusted: DataFrame
) -> DataFrame:
    """customers_curated: consenting customers with at least one trusted phone reading."""
    users_with_readings = accelerometer_trusted.select(F.col("user").alias("email")).distinct()
    return customer_trusted.join(users_with_readings, "email", "left_semi").select(
        *customer_trusted.columns
    )


def newest_update_by_email(parsed_customers: DataFrame) -> DataFrame:
    """The newest `lastUpdateDate` of each normalised email in landing (for the privacy check)."""
    return (
        valid_records(parsed_customers)
        .groupBy(normalized_email(F.col("email")).alias("email"))
        .agg(F.max("lastUpdateDate").alias("newest_update"))
    )
