"""The curated tables' builds: from trusted tables only."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stedi_assets.builds.builder import Builder
from stedi_assets.builds.time_range import at_times_of
from stedi_assets.contract import privacy
from stedi_assets.contract.changes import changed_keys, new_training_pairs
from stedi_assets.contract.customers import build_customers_curated
from stedi_assets.contract.landing import ACCELEROMETER, STEP_TRAINER
from stedi_assets.contract.readings import build_machine_learning_curated
from stedi_assets.publishing.increment_plan import Increment
from stedi_assets.publishing.publication import Publication, Sources
from stedi_assets.storage import delta_tables
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tables.catalogue import LakeTable
from stedi_assets.tables.curated import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)

CUSTOMERS = CUSTOMER_TRUSTED.table
PHONE_READINGS = ACCELEROMETER_TRUSTED.table
DEVICE_READINGS = STEP_TRAINER_TRUSTED.table
CURATED_CUSTOMERS = CUSTOMERS_CURATED.table
DEVICE_TIME, PHONE_TIME = STEP_TRAINER.reading_time, ACCELEROMETER.reading_time


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(DataFrame.unionByName, frames)


def _pairs_outside(pairs: DataFrame, device_readings: DataFrame, few: bool) -> DataFrame:
    """`privacy.pairs_outside`; when the `pairs` are few (an increment's), only the device
    readings within their times are read."""
    if few:
        device_readings = at_times_of(device_readings, DEVICE_TIME, pairs, DEVICE_TIME)
    return privacy.pairs_outside(pairs, device_readings, few=few)


class CustomersCuratedBuilder(Builder):
    table = CUSTOMERS_CURATED
    sources = Sources(tables=[CUSTOMERS, PHONE_READINGS])

    def build(self, files: Sequence[LandingFile]) -> Publication:
        customers = delta_tables.read_table(self.spark, CUSTOMER_TRUSTED.uri(self.layout))
        readings = delta_tables.read_table(self.spark, ACCELEROMETER_TRUSTED.uri(self.layout))
        return Publication(
            build_customers_curated(customers, readings),
            lambda rows: privacy.customers_not_in(rows, customers),
        )

    def increment(self, increment: Increment) -> Publication | None:
        """When the consenting customers are the same and phone readings were only added:
        the consenting customers with added readings who are not curated yet."""
        readings = increment.changed(PHONE_READINGS)
        if increment.changed(CUSTOMERS) is not None or (
            readings is not None and not readings.additions_only
        ):
            return None
        spark, layout = self.spark, self.layout
        customers = increment.now(spark, layout, CUSTOMERS)
        curated = delta_tables.read_version(spark, CUSTOMERS_CURATED.uri(layout), increment.version)
        if readings is None:
            return Publication(customers.limit(0), lambda rows: rows.limit(0))
        added_readings, _ = increment.changes(spark, layout, PHONE_READINGS)
        added = build_customers_curated(customers, added_readings).join(
            curated.select("email"), "email", "left_anti"
        )
        return Publication(added, lambda rows: privacy.customers_not_in(rows, customers))


class MachineLearningCuratedBuilder(Builder):
    table = MACHINE_LEARNING_CURATED
    sources = Sources(tables=[DEVICE_READINGS, PHONE_READINGS, CURATED_CUSTOMERS])

    def build(self, files: Sequence[LandingFile]) -> Publication:
        device_readings, phone_readings, customers = (
            delta_tables.read_table(self.spark, table.uri(self.layout))
            for table in (STEP_TRAINER_TRUSTED, ACCELEROMETER_TRUSTED, CUSTOMERS_CURATED)
        )
        pairs = build_machine_learning_curated(device_readings, phone_readings, customers)
        return Publication(pairs, lambda rows: privacy.pairs_outside(rows, device_readings))

    def increment(self, increment: Increment) -> Publication | None:
        """The pairs added readings make; and for every serial number whose device readings
        lost a row, whose owner changed or whose owner's phone readings lost a row, its pairs
        made again."""
        devices, phones = increment.changed(DEVICE_READINGS), increment.changed(PHONE_READINGS)
        if any(change is not None and not change.increments_only for change in (devices, phones)):
            return None
        spark, layout = self.spark, self.layout
        device_readings = increment.now(spark, layout, DEVICE_READINGS)
        phone_readings = increment.now(spark, layout, PHONE_READINGS)
        customers = increment.now(spark, layout, CURATED_CUSTOMERS)
        added_devices, removed_devices = self._changes(increment, DEVICE_READINGS, device_readings)
        added_phones, removed_phones = self._changes(increment, PHONE_READINGS, phone_readings)
        # Few added readings are broadcast: the trusted tables are then scanned, not shuffled.
        few = all(change is None or change.few_added for change in (devices, phones))
        if few:
            added_devices, added_phones = F.broadcast(added_devices), F.broadcast(added_phones)
        serials = self._devices_paired_again(
            increment, customers, removed_devices, removed_phones
        ).persist()
        pairs = self._pairs(
            increment,
            serials,
            (added_devices, device_readings),
            (added_phones, phone_readings),
            customers,
        )
        # A device reading removed: the pairs of its device are checked again too.
        lost_readings = devices is not None and not devices.additions_only
        serials_judged = (
            removed_devices.select("serialNumber").distinct() if lost_readings else None
        )
        return Publication(
            pairs,
            lambda rows: _pairs_outside(rows, device_readings, few=few),
            key=["serialNumber"],
            removed_keys=serials.join(
                self._carried_before(increment, customers), "serialNumber", "left_semi"
            ),
            judged_keys=serials_judged,
        )

    def _changes(
        self, increment: Increment, table: LakeTable, now: DataFrame
    ) -> tuple[DataFrame, DataFrame]:
        """The rows `table` added and removed since the build (none when it did not change)."""
        if increment.changed(table) is None:
            return now.limit(0), now.limit(0)
        return increment.changes(self.spark, self.layout, table)

    def _devices_paired_again(
        self,
        increment: Increment,
        customers: DataFrame,
        removed_devices: DataFrame,
        removed_phones: DataFrame,
    ) -> DataFrame:
        """The serial numbers whose pairs an increment makes again: devices whose owner among
        the curated customers changed, that lost a reading, or whose owner's phone lost one."""
        users = removed_phones.select(F.col("user").alias("email")).distinct()
        owners = customers.select("email", "serialNumber")
        paired_again = [removed_devices.select("serialNumber")]
        if increment.changed(CURATED_CUSTOMERS) is not None:
            customers_before = increment.before(self.spark, self.layout, CURATED_CUSTOMERS)
            owned = F.struct("serialNumber").alias("owned")
            owners = _union([customers_before.select("email", "serialNumber"), owners])
            owner_changed = changed_keys(
                customers_before.select("email", owned), customers.select("email", owned), "email"
            )
            paired_again.append(owner_changed.join(owners, "email").select("serialNumber"))
        lost_by_owner = owners.join(F.broadcast(users), "email", "left_semi")
        return _union([*paired_again, lost_by_owner.select("serialNumber")]).distinct()

    def _pairs(
        self,
        increment: Increment,
        serials: DataFrame,
        devices: tuple[DataFrame, DataFrame],
        phones: tuple[DataFrame, DataFrame],
        customers: DataFrame,
    ) -> DataFrame:
        """The added device readings with every phone reading, and the earlier ones with the
        added phone readings; every reading of a device paired again (`serials`) with every
        phone reading (its rows are replaced). `devices` and `phones`: the readings added, and
        every reading now."""
        (added_devices, device_readings), (added_phones, phone_readings) = devices, phones
        recomputed = F.broadcast(serials)
        devices_paired = added_devices.join(recomputed, "serialNumber", "left_anti")
        if serials.isEmpty():  # only added device readings: phone readings at their times
            phones_met = at_times_of(phone_readings, PHONE_TIME, devices_paired, DEVICE_TIME)
        else:  # and every reading of devices paired again: every phone reading
            devices_paired = devices_paired.unionByName(
                device_readings.join(recomputed, "serialNumber", "left_semi")
            )
            phones_met = phone_readings
        earlier_devices = increment.before(self.spark, self.layout, DEVICE_READINGS)
        return new_training_pairs(
            at_times_of(earlier_devices, DEVICE_TIME, added_phones, PHONE_TIME).join(
                recomputed, "serialNumber", "left_anti"
            ),
            devices_paired,
            phones_met,
            added_phones,
            customers,
        )

    def _carried_before(self, increment: Increment, customers: DataFrame) -> DataFrame:
        """The serial numbers curated customers carried before (`customers` when they did not
        change): a device has pairs only if one did, so of the devices paired again only those
        have rows to replace."""
        if increment.changed(CURATED_CUSTOMERS) is not None:
            customers = increment.before(self.spark, self.layout, CURATED_CUSTOMERS)
        return customers.select("serialNumber")
