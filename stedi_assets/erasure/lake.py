"""Carrying out erasure in the lake: landing files, Delta tables, their history, and the log.

Landing files are rewritten without the erased people's lines (each file replaced whole). Each
table holding a row of theirs is rewritten without it as a new Delta version, and the versions
that still hold it are vacuumed once the history retention has passed, or at once when asked.
Delta's log keeps no column statistics in this project (see `resources.spark_config`), so after
the vacuum no byte of the erased rows is left under the lake root.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets import delta_tables
from stedi_assets.catalogue import ERASURE_LOG, PERSONAL_TABLES
from stedi_assets.contract.customers import hashed_email
from stedi_assets.erasure.matching import EMAIL_TOKEN, ErasedPeople, file_lines, without_erased
from stedi_assets.lake import LANDING_SOURCES, LakeLayout
from stedi_assets.landing.store import LandingStore


def _mentions(frame: DataFrame, people: ErasedPeople) -> Column:
    """True for a row of an erased person: by its `email`/`user`, its `serialNumber`, or any
    email or serial number in a quarantined `line`."""
    hashes, serials = sorted(people.email_hashes), sorted(people.serial_numbers)
    conditions = [F.lit(False)]
    for column in ("email", "user"):
        if column in frame.columns:
            conditions.append(hashed_email(F.col(column), people.salt).isin(hashes))
    if "serialNumber" in frame.columns and serials:
        conditions.append(F.col("serialNumber").isin(serials))
    if "line" in frame.columns:
        tokens = F.regexp_extract_all(F.col("line"), F.lit(EMAIL_TOKEN), 0)
        conditions.append(F.exists(tokens, lambda t: hashed_email(t, people.salt).isin(hashes)))
        conditions += [F.col("line").contains(serial) for serial in serials]
    mentioned = conditions[0]
    for condition in conditions[1:]:
        mentioned = mentioned | F.coalesce(condition, F.lit(False))
    return mentioned


def erase_from_landing(
    store: LandingStore, people: ErasedPeople, progress: Callable[[str], None]
) -> int:
    """Rewrite every landing file (hidden ones too) without the people's lines."""
    removed = 0
    for source in LANDING_SOURCES:
        for file in store.list_files(source, include_hidden=True):
            name = file.key.rsplit("/", 1)[1]
            content, lines = without_erased(name, store.read(file.key), people)
            if lines:
                store.write(source, name, content)
                progress(f"{file.key}: removed {lines} lines")
                removed += lines
    return removed


def serials_only_they_carry(store: LandingStore, people: ErasedPeople) -> ErasedPeople:
    """`people` with the serial numbers that only their customer records carry."""
    lines = (
        line.decode("utf-8", "replace")
        for file in store.list_files("customer", include_hidden=True)
        for line in file_lines(file.key, store.read(file.key))
    )
    return people.with_serials_of(lines)


def erase_from_tables(
    spark: SparkSession, lake: LakeLayout, people: ErasedPeople, progress: Callable[[str], None]
) -> dict[str, int]:
    """Rewrite each table that holds the people's rows without them; rows removed per table."""
    removed: dict[str, int] = {}
    for table in PERSONAL_TABLES:
        uri = table.uri(lake)
        rows = delta_tables.read_table_if_exists(spark, uri)
        if rows is None:
            continue
        theirs = rows.where(_mentions(rows, people)).count()
        if theirs:
            delta_tables.replace_rows(rows.where(~_mentions(rows, people)), uri)
            progress(f"{table.path}: removed {theirs} rows")
            removed[table.path] = theirs
    return removed


@contextlib.contextmanager
def _session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    previous = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def vacuum(spark: SparkSession, lake: LakeLayout, retention_hours: float) -> list[str]:
    """Delete the files of table versions older than `retention_hours` from every table,
    after rewriting the files that still hold rows an increment removed (a withdrawn
    customer's readings are marked deleted, not rewritten, when they leave a table).

    Delta refuses a retention below its 7-day default unless told that no reader still needs
    the old files; runs are serialised (dagster.yaml), so none does. Its listing otherwise runs
    10,000 tasks per table (Spark's parallel discovery default), which suits huge tables only.
    """
    settings = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        # In each table's history, so that increments do not read versions it deleted.
        "spark.databricks.delta.vacuum.logging.enabled": "true",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(4 * (os.cpu_count() or 1)),
    }
    vacuumed = []
    with _session_conf(spark, settings):
        for table in (*PERSONAL_TABLES, ERASURE_LOG):
            if delta_tables.read_table_if_exists(spark, table.uri(lake)) is not None:
                if table in PERSONAL_TABLES:
                    delta_tables.purge_deleted_rows(spark, table.uri(lake))
                delta_tables.vacuum(spark, table.uri(lake), retention_hours)
                vacuumed.append(table.path)
    return vacuumed


def record_erasure(
    spark: SparkSession, lake: LakeLayout, people: ErasedPeople, landing_lines: int, rows: int
) -> None:
    """Append the request to the erasure log: hashes and counts only."""
    now = datetime.datetime.now(datetime.UTC)
    entries = spark.createDataFrame(
        [(email_hash, now, landing_lines, rows) for email_hash in sorted(people.email_hashes)],
        "email_hash string, erased_at timestamp, landing_lines_removed long, "
        "table_rows_removed long",
    )
    delta_tables.append(entries, ERASURE_LOG.uri(lake))


def erased_email_hashes(spark: SparkSession, lake: LakeLayout) -> DataFrame | None:
    """The hashes of every erased email, or None before the first erasure."""
    log = delta_tables.read_table_if_exists(spark, ERASURE_LOG.uri(lake))
    return None if log is None else log.select("email_hash").distinct()
