"""The trusted tables' builds: landing lines that pass the contract, of consenting customers."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stedi_assets.builds.builder import Builder
from stedi_assets.builds.time_range import at_times_of
from stedi_assets.contract import privacy
from stedi_assets.contract.accounting import KEPT, TrustedBuild, valid_records
from stedi_assets.contract.changes import changed_keys, reclassified, with_reclassified
from stedi_assets.contract.customers import (
    build_customer_trusted,
    current_customer_records,
    customer_increment,
    load_customers,
    newest_update_by_email,
)
from stedi_assets.contract.erasure import ErasedHashes
from stedi_assets.contract.landing import ACCELEROMETER, STEP_TRAINER, LandingSource, load_landing
from stedi_assets.contract.readings import (
    build_accelerometer_trusted,
    build_step_trainer_trusted,
    device_attribution,
    device_disposition,
    phone_consent,
    phone_disposition,
)
from stedi_assets.erasure.lake import erased_hashes
from stedi_assets.publishing.increment_plan import FEW_NEW_BYTES, Increment
from stedi_assets.publishing.metadata import ReadingsPerCustomer
from stedi_assets.publishing.publication import Publication, Sources
from stedi_assets.settings import ConsentPolicy
from stedi_assets.storage import delta_tables
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tables.catalogue import CURRENT_CUSTOMERS, ERASURE_LOG, LakeTable
from stedi_assets.tables.curated import CUSTOMERS_CURATED
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)

CUSTOMERS = CUSTOMER_TRUSTED.table


@dataclass(frozen=True)
class ReadBefore:
    """The records of a reading source that the builds before an increment read."""

    records: DataFrame
    at_new_times: DataFrame
    """Those at times within the new lines' (`time_range.at_times_of`): all a new record can
    be a duplicate of."""
    few: bool
    """Whether the new files are few enough to broadcast their records."""


def _duplicates_among(read_before: ReadBefore | None) -> tuple[DataFrame | None, bool]:
    """What a reading build matches new records with (`read_before`, `few` of
    `accounting.distinct_records`): nothing for a full build."""
    if read_before is None:
        return None, False
    return read_before.at_new_times, read_before.few


class TrustedBuilder(Builder):
    """A trusted table: its landing source's lines, parsed by the contract, with the lines of
    people the erasure log names dropped. An increment parses the files added alone."""

    def increment(self, increment: Increment) -> Publication | None:
        return self.build_on(increment.files, increment)

    def build(self, files: Sequence[LandingFile]) -> Publication:
        return self.build_on(files, None)

    @abstractmethod
    def build_on(self, files: Sequence[LandingFile], increment: Increment | None) -> Publication:
        """The table from `files`: all of them for a build, an increment's added ones."""

    @property
    def since_consent(self) -> bool:
        return self.lake.consent_policy is ConsentPolicy.SINCE_CONSENT

    def uris(self, files: Sequence[LandingFile]) -> list[str]:
        return [self.layout.uri(file.key) for file in files]

    def erased(self) -> ErasedHashes | None:
        """The erasure log's hashes: every landing line of the people (and devices) it names
        is dropped when parsed."""
        try:
            return erased_hashes(self.spark, self.layout, self.lake.erasure_salt)
        except ValueError as error:  # a log, but no salt
            raise dg.Failure(str(error)) from None

    def new_lines(
        self, source: LandingSource, files: Sequence[LandingFile], increment: Increment | None
    ) -> tuple[DataFrame, ReadBefore | None]:
        """A reading source's parsed landing lines: of every file for a build; for an
        increment, of the files added since alone, with what the earlier builds read."""
        ranges = self.lake.plausible_ranges()
        parsed = load_landing(self.spark, self.uris(files), source, ranges, erased=self.erased())
        if increment is None:
            return parsed, None
        records = delta_tables.read_version(self.spark, self.layout.parsed(source.name))
        time = source.reading_time
        return parsed, ReadBefore(
            records=records,
            at_new_times=at_times_of(records, time, valid_records(parsed), time),
            few=sum(file.size for file in files) <= FEW_NEW_BYTES,
        )


class CustomerTrustedBuilder(TrustedBuilder):
    table = CUSTOMER_TRUSTED
    sources = Sources(landing=["customer"], tables=[ERASURE_LOG])

    def build_on(self, files: Sequence[LandingFile], increment: Increment | None) -> Publication:
        ranges = self.lake.plausible_ranges()
        parsed = load_customers(self.spark, self.uris(files), ranges, self.erased())
        if increment is None:
            customers = build_customer_trusted(parsed)
            newest = newest_update_by_email(parsed)
            return Publication(
                customers.rows,
                lambda rows: privacy.not_current_or_not_consenting(rows, newest),
                parsed_landing=[parsed],
                build=customers,
                companion_tables=[(CURRENT_CUSTOMERS, current_customer_records(parsed))],
            )
        records_before = delta_tables.read_version(self.spark, self.layout.parsed("customer"))
        change = customer_increment(parsed, records_before)
        # No keys judged again: the customers the new records name are replaced whole, and
        # `newest_update` knows only theirs (the audit checks every row).
        return Publication(
            change.build.rows,
            lambda rows: privacy.not_current_or_not_consenting(rows, change.newest_update),
            parsed_landing=[parsed],
            build=change.build,
            companion_tables=[(CURRENT_CUSTOMERS, change.current)],
            key=["email"],
            removed_keys=change.emails,
        )


@dataclass(frozen=True)
class ReadingIncrement:
    """A reading table's increment: its build, and when the attribution changed upstream the
    keys whose rows it replaces and those the privacy check judges again (None when only
    files were added)."""

    build: TrustedBuild
    replaced_keys: DataFrame | None = None
    """The keys with a record kept before (the table holds no row of the others, whose kept
    records it adds)."""
    reattributed_keys: DataFrame | None = None
    """Every key whose attribution changed."""


def _with_reattributed_records(
    build: TrustedBuild,
    read_before: DataFrame,
    key: str,
    attribution: tuple[DataFrame, DataFrame],
    disposition: Column,
    columns: Sequence[str],
) -> ReadingIncrement:
    """An increment's build with the records read before whose `key`'s attribution changed
    (`attribution`: before, after) judged again."""
    before, after = (frame.persist() for frame in attribution)  # each read three times
    keys = changed_keys(before, after, key).persist()
    records = read_before.join(F.broadcast(keys), key, "left_semi")
    judged = reclassified(records, key, before, after, disposition, columns)
    kept_before = judged.where(F.col("before") == KEPT).select(key).distinct()
    return ReadingIncrement(with_reclassified(build, judged, columns), kept_before, keys)


def _reading_increment(
    build: TrustedBuild,
    read_before: ReadBefore | None,
    key: str,
    attribution: tuple[DataFrame | None, DataFrame],
    disposition: Column,
    source: LandingSource,
) -> ReadingIncrement:
    """A reading table's build, judged again where the attribution changed upstream
    (`attribution`: before, or None when it did not; now)."""
    before, now = attribution
    if read_before is None or before is None:
        return ReadingIncrement(build)
    return _with_reattributed_records(
        build, read_before.records, key, (before, now), disposition, source.columns
    )


class AccelerometerTrustedBuilder(TrustedBuilder):
    table = ACCELEROMETER_TRUSTED
    sources = Sources(landing=["accelerometer"], tables=[CUSTOMERS, ERASURE_LOG])

    def build_on(self, files: Sequence[LandingFile], increment: Increment | None) -> Publication:
        spark, layout, since_consent = self.spark, self.layout, self.since_consent
        customers = (
            increment.now(spark, layout, CUSTOMERS)
            if increment
            else delta_tables.read_table(spark, CUSTOMER_TRUSTED.uri(layout))
        )
        consent = phone_consent(customers)
        parsed, read_before = self.new_lines(ACCELEROMETER, files, increment)
        readings = build_accelerometer_trusted(
            parsed, consent, since_consent, *_duplicates_among(read_before)
        )
        consent_changed = increment is not None and increment.changed(CUSTOMERS) is not None
        consent_before = (
            phone_consent(increment.before(spark, layout, CUSTOMERS))
            if increment is not None and consent_changed
            else None
        )
        reading_change = _reading_increment(
            readings,
            read_before,
            "user",
            (consent_before, consent),
            phone_disposition(since_consent),
            ACCELEROMETER,
        )
        return Publication(
            reading_change.build.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "timestamp", privacy.consent_by_email(customers, "user"), since_consent
            ),
            parsed_landing=[parsed],
            build=reading_change.build,
            charts={"readings_per_customer": ReadingsPerCustomer("user")},
            key=["user"],
            removed_keys=reading_change.replaced_keys,
            judged_keys=reading_change.reattributed_keys,
        )


DEVICE_OWNER_TABLES: tuple[LakeTable, LakeTable] = (CURRENT_CUSTOMERS, CUSTOMERS_CURATED.table)
"""What a device reading is attributed by: every customer's current record, and the curated
customers."""


class StepTrainerTrustedBuilder(TrustedBuilder):
    table = STEP_TRAINER_TRUSTED
    sources = Sources(landing=["step_trainer"], tables=[*DEVICE_OWNER_TABLES, ERASURE_LOG])

    def build_on(self, files: Sequence[LandingFile], increment: Increment | None) -> Publication:
        spark, layout, since_consent = self.spark, self.layout, self.since_consent
        current, curated = (
            increment.now(spark, layout, table)
            if increment
            else delta_tables.read_table(spark, table.uri(layout))
            for table in DEVICE_OWNER_TABLES
        )
        attribution = device_attribution(current, curated)
        parsed, read_before = self.new_lines(STEP_TRAINER, files, increment)
        device_readings = build_step_trainer_trusted(
            parsed, attribution, since_consent, *_duplicates_among(read_before)
        )
        owners_changed = increment is not None and any(
            increment.changed(table) is not None for table in DEVICE_OWNER_TABLES
        )
        attribution_before = (
            device_attribution(
                *(increment.before(spark, layout, table) for table in DEVICE_OWNER_TABLES)
            )
            if increment is not None and owners_changed
            else None
        )
        reading_change = _reading_increment(
            device_readings,
            read_before,
            "serialNumber",
            (attribution_before, attribution),
            device_disposition(since_consent),
            STEP_TRAINER,
        )
        consent = privacy.consent_by_device(current, curated)
        return Publication(
            reading_change.build.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "sensorReadingTime", consent, since_consent
            ),
            parsed_landing=[parsed],
            build=reading_change.build,
            key=["serialNumber"],
            removed_keys=reading_change.replaced_keys,
            judged_keys=reading_change.reattributed_keys,
        )
