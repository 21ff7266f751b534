"""The lake's tables: each one's name, its path under the lake root, and its zone.

It imports only the standard library and the lake's layout, so anything may learn where a table
lives and which checks guard it without importing Spark, Pandera, Delta or Glue: the summary, SQL
over the lake and erasure read it; the zone assets add their schemas and rules on top
(`zone_table.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from stedi_assets.storage.lake import LANDING_SOURCES, LakeLayout

SCHEMA_CHECK = "schema"
ACCOUNTING_CHECK = "accounting_balances"
QUARANTINE_CHECK = "no_quarantined_lines"
ERASED_CHECK = "no_erased_lines"


@dataclass(frozen=True)
class LakeTable:
    """A Delta table of the lake. Zone tables are assets of the same name."""

    name: str
    path: str
    privacy_check: str = ""
    """The name of the blocking check of the table's privacy invariant (zone tables only)."""
    landing_source: str | None = None
    """Set for trusted tables, which read a landing source and account for its lines."""
    companions: tuple[LakeTable, ...] = ()
    """Tables written with this one (before it, marked with its build), beside its quarantine
    and parsed records."""

    @property
    def zone(self) -> str:
        """The last part of the table's path: `trusted` or `curated` for a zone table (a companion
        is `quarantine`, `parsed`, `current` or `log`)."""
        return self.path.rsplit("/", 1)[1]

    def uri(self, layout: LakeLayout) -> str:
        return layout.uri(self.path)

    @property
    def check_names(self) -> tuple[str, ...]:
        """The checks of a zone table, as the UI and the summary name them."""
        names = (SCHEMA_CHECK, self.privacy_check)
        trusted = (ACCOUNTING_CHECK, QUARANTINE_CHECK, ERASED_CHECK)
        return names + (trusted if self.landing_source else ())


CURRENT_CUSTOMERS = LakeTable("customer_current", "customer/current")
"""The current (newest) record of every customer, consenting or not (personal data), written
with customer_trusted: who carries which serial number, for step_trainer_trusted."""

CUSTOMER_TRUSTED_TABLE = LakeTable(
    "customer_trusted",
    "customer/trusted",
    "only_consenting_customers",
    "customer",
    companions=(CURRENT_CUSTOMERS,),
)
ACCELEROMETER_TRUSTED_TABLE = LakeTable(
    "accelerometer_trusted", "accelerometer/trusted", "only_consenting_customers", "accelerometer"
)
CUSTOMERS_CURATED_TABLE = LakeTable(
    "customers_curated", "customer/curated", "only_consenting_customers"
)
STEP_TRAINER_TRUSTED_TABLE = LakeTable(
    "step_trainer_trusted", "step_trainer/trusted", "only_consenting_customers", "step_trainer"
)
MACHINE_LEARNING_CURATED_TABLE = LakeTable(
    "machine_learning_curated", "step_trainer/curated", "only_trusted_device_readings"
)

ZONE_TABLES = (
    CUSTOMER_TRUSTED_TABLE,
    ACCELEROMETER_TRUSTED_TABLE,
    CUSTOMERS_CURATED_TABLE,
    STEP_TRAINER_TRUSTED_TABLE,
    MACHINE_LEARNING_CURATED_TABLE,
)
"""Every trusted and curated table, in the order a full run builds them."""

QUARANTINE_TABLES = tuple(
    LakeTable(f"{source}_quarantine", f"{source}/quarantine") for source in LANDING_SOURCES
)
"""Each landing source's lines that broke the contract, with the reason (personal data)."""

PARSED_TABLES = tuple(
    LakeTable(f"{source}_parsed", f"{source}/parsed") for source in LANDING_SOURCES
)
"""Each source's valid records (distinct readings; every customer record, with its line), of
every customer, as read from the landing files still there (personal data, like landing): an
increment compares new lines with them."""


def parsed_table(source: str) -> LakeTable:
    """A landing source's parsed records (`PARSED_TABLES`)."""
    return next(table for table in PARSED_TABLES if table.path == f"{source}/parsed")


def written_before(table: LakeTable) -> tuple[LakeTable, ...]:
    """The tables a build of `table` writes before it, each marked with the build: its landing
    source's quarantine and parsed records, and its declared companions. A run stopped between
    them and the table leaves them unmarked by the table's record, which the next run sees."""
    source = table.landing_source
    if source is None:
        return ()
    quarantine = next(t for t in QUARANTINE_TABLES if t.path == f"{source}/quarantine")
    return (quarantine, parsed_table(source), *table.companions)


ERASURE_LOG = LakeTable("erasure_log", "erasure/log")
"""One row per erasure request: hashes and counts, no personal data."""

PERSONAL_TABLES = ZONE_TABLES + QUARANTINE_TABLES + PARSED_TABLES + (CURRENT_CUSTOMERS,)
"""Every table that can hold a person's rows (erasure rewrites them)."""
