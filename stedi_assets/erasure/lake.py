"""Carrying out erasure in the lake: landing files, Delta tables, their history, and the log.

Landing files are rewritten without the erased people's lines (each file replaced whole). Each
table holding a row of theirs is rewritten without it as a new Delta version, and the versions
that still hold it are vacuumed once the history retention has passed, or at once when asked.
Delta's log keeps no column statistics in this project but each file's range of reading times
(`storage.delta_tables.TABLE_PROPERTIES`, `STATS_COLUMNS`), so after the vacuum no email or
serial number of the erased rows is left under the lake root.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract.erasure import ErasedHashes, rows_not_erased
from stedi_assets.erasure.matching import ErasedPeople, file_lines, searchable, without_erased
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LANDING_SOURCES, LakeLayout
from stedi_assets.storage.landing_store import LandingStore
from stedi_assets.tables.catalogue import ERASURE_LOG, PERSONAL_TABLES


@dataclass(frozen=True)
class LandingErasure:
    """What an erasure did to the landing files."""

    lines_removed: int
    unsearchable: list[str]
    """Keys of files compressed in a way the erasure cannot open (`matching.UNSEARCHABLE`)."""


def erase_from_landing(
    store: LandingStore, people: ErasedPeople, progress: Callable[[str], None]
) -> LandingErasure:
    """Rewrite every landing file (hidden ones too) without the people's lines."""
    removed, unsearchable = 0, []
    for source in LANDING_SOURCES:
        for file in store.list_files(source, include_hidden=True):
            if not searchable(file.name):
                unsearchable.append(file.key)
                progress(
                    f"{file.key}: not searched (compressed in a way the erasure cannot "
                    "open); remove it or land it again uncompressed or as .gz"
                )
                continue
            content, lines = without_erased(file.name, store.read(file.key), people)
            if lines:
                store.write(source, file.name, content)
                progress(f"{file.key}: removed {lines} lines")
                removed += lines
    return LandingErasure(removed, unsearchable)


def serials_only_they_carry(store: LandingStore, people: ErasedPeople) -> ErasedPeople:
    """`people` with the serial numbers that only their customer records carry."""
    lines = (
        line.decode("utf-8", "replace")
        for file in store.list_files("customer", include_hidden=True)
        if searchable(file.name)
        for line in file_lines(file.name, store.read(file.key))
    )
    return people.with_serials_of(lines)


def erase_from_tables(
    spark: SparkSession, lake: LakeLayout, people: ErasedPeople, progress: Callable[[str], None]
) -> dict[str, int]:
    """Rewrite each table that holds the people's rows without them; rows removed per table."""
    removed: dict[str, int] = {}
    erased = ErasedHashes.of(
        spark, people.salt, sorted(people.email_hashes), people.serial_number_hashes()
    )
    for table in PERSONAL_TABLES:
        uri = table.uri(lake)
        rows = delta_tables.read_table_if_exists(spark, uri)
        if rows is None:
            continue
        kept = rows_not_erased(rows, erased)
        theirs = rows.count() - kept.count()
        if theirs:
            delta_tables.replace_rows(kept, uri)
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


def vacuum_lake(spark: SparkSession, lake: LakeLayout, retention_hours: float) -> list[str]:
    """Delete the files of table versions older than `retention_hours` from every table.

    A table made before the lake wrote no deletion vectors may still mark rows deleted (a
    withdrawn customer's readings) in files it keeps: the feature is dropped first, which
    rewrites those files without the rows (its commits carry no build record, so the next run
    rebuilds the table).

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
            rows = delta_tables.read_table_if_exists(spark, table.uri(lake))
            if rows is not None:
                delta_tables.with_table_properties(spark, table.uri(lake), rows.columns)
                delta_tables.vacuum(spark, table.uri(lake), retention_hours)
                vacuumed.append(table.path)
    return vacuumed


ERASURE_LOG_SCHEMA = (
    "email_hash string, erased_at timestamp, landing_lines_removed long, "
    "table_rows_removed long, serial_number_hashes array<string>"
)


def record_erasure(
    spark: SparkSession, lake: LakeLayout, people: ErasedPeople, landing_lines: int, rows: int
) -> None:
    """Append the request to the erasure log: hashes and counts only (the serial numbers only
    the people carried, salted and hashed too, so that their devices' readings stay out)."""
    now = datetime.datetime.now(datetime.UTC)
    serials = people.serial_number_hashes()
    entries = spark.createDataFrame(
        [
            (email_hash, now, landing_lines, rows, serials)
            for email_hash in sorted(people.email_hashes)
        ],
        ERASURE_LOG_SCHEMA,
    )
    delta_tables.append(entries, ERASURE_LOG.uri(lake), schema_may_grow=True)


def erased_hashes(spark: SparkSession, lake: LakeLayout, salt: str | None) -> ErasedHashes | None:
    """Every hash the erasure log holds, with the salt that made them; None before the first
    erasure. A lake with an erasure log needs its salt: without it no line could be matched."""
    log = delta_tables.read_table_if_exists(spark, ERASURE_LOG.uri(lake))
    if log is None:
        return None
    if not salt:
        raise ValueError(
            "The lake has an erasure log: set STEDI_ERASURE_SALT, the salt of its hashes."
        )
    serials = (
        F.col("serial_number_hashes")
        if "serial_number_hashes" in log.columns
        else F.array().cast("array<string>")
    )
    rows = log.select("email_hash", serials.alias("serials")).collect()
    return ErasedHashes.of(
        spark,
        salt,
        sorted({row["email_hash"] for row in rows}),
        sorted({serial for row in rows for serial in row["serials"] or []}),
    )
