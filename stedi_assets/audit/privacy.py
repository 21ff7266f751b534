"""The privacy audit: every row of every published zone table against its privacy invariant.

A run checks what it changes before publishing (`Change.rows_to_judge`): the rows it adds and
those of the keys whose consent, owner or device readings changed, not the million others. The
audit checks them all, on the latest tables, independently of how they were built (it reads no
build record and no increment): a scheduled job (`privacy_audit_job`) that fails loudly. It
sits outside `publishing/`, whose code is part of every table's build record: editing the
audit rebuilds no table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract import privacy
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets.tables.catalogue import CURRENT_CUSTOMERS, LakeTable, parsed_table
from stedi_assets.tables.curated import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.tables.personal_data import example_keys
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)
from stedi_assets.tables.zone_table import ZoneTable

Tables = Callable[[LakeTable], DataFrame]
"""The latest version of a lake table."""


@dataclass(frozen=True)
class Finding:
    """A table's audit: how many of its rows break its invariant, with a few hashed keys."""

    table: ZoneTable
    audited: bool
    """False when the table, or a table it is judged by, is not published yet."""
    violating_rows: int = 0
    examples: tuple[dict[str, object], ...] = ()


def _invariants(since_consent: bool) -> list[tuple[ZoneTable, Callable[[Tables], DataFrame]]]:
    """Each zone table's rows that break its invariant, given the latest tables."""

    def customers(read: Tables) -> DataFrame:
        records = read(parsed_table("customer"))
        newest = records.groupBy("email").agg(F.max("lastUpdateDate").alias("newest_update"))
        return privacy.not_current_or_not_consenting(read(CUSTOMER_TRUSTED.table), newest)

    def phone_readings(read: Tables) -> DataFrame:
        consent = privacy.consent_by_email(read(CUSTOMER_TRUSTED.table), "user")
        rows = read(ACCELEROMETER_TRUSTED.table)
        return privacy.readings_outside_consent(rows, "timestamp", consent, since_consent)

    def device_readings(read: Tables) -> DataFrame:
        consent = privacy.consent_by_device(read(CURRENT_CUSTOMERS), read(CUSTOMERS_CURATED.table))
        rows = read(STEP_TRAINER_TRUSTED.table)
        return privacy.readings_outside_consent(rows, "sensorReadingTime", consent, since_consent)

    def curated_customers(read: Tables) -> DataFrame:
        return privacy.customers_not_in(read(CUSTOMERS_CURATED.table), read(CUSTOMER_TRUSTED.table))

    def training_pairs(read: Tables) -> DataFrame:
        return privacy.pairs_outside(
            read(MACHINE_LEARNING_CURATED.table), read(STEP_TRAINER_TRUSTED.table)
        )

    return [
        (CUSTOMER_TRUSTED, customers),
        (ACCELEROMETER_TRUSTED, phone_readings),
        (STEP_TRAINER_TRUSTED, device_readings),
        (CUSTOMERS_CURATED, curated_customers),
        (MACHINE_LEARNING_CURATED, training_pairs),
    ]


class _Unpublished(Exception):
    """A table an invariant reads is not in the lake yet."""


def audit(spark: SparkSession, layout: LakeLayout, since_consent: bool) -> list[Finding]:
    """Every zone table audited, the violating rows of all of them counted in one Spark job; a
    table not published yet (or judged by one not published yet) is not audited."""

    def read(table: LakeTable) -> DataFrame:
        rows = delta_tables.read_table_if_exists(spark, table.uri(layout))
        if rows is None:
            raise _Unpublished(table.path)
        return rows

    invariants = _invariants(since_consent)
    violations: dict[str, DataFrame] = {}
    for table, invariant in invariants:
        try:
            violations[table.name] = invariant(read)
        except _Unpublished:
            continue
    counts = (
        aggregate_in_one_job(*((rows, [F.count(F.lit(1))]) for rows in violations.values()))
        if violations
        else []
    )
    found = {name: count for name, (count,) in zip(violations, counts, strict=True)}
    return [
        _finding(table, violations[table.name], found[table.name])
        if table.name in found
        else Finding(table, audited=False)
        for table, _ in invariants
    ]


def _finding(table: ZoneTable, violations: DataFrame, count: int) -> Finding:
    """An audited table's finding, with a few hashed examples when rows broke its rule."""
    examples = example_keys(violations, table.example_key) if count else []
    return Finding(table, audited=True, violating_rows=count, examples=tuple(examples))
