"""The curated zone: the tables data scientists use, built from trusted tables only."""

from collections.abc import Callable
from functools import reduce

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stedi_assets.contract import privacy
from stedi_assets.contract.changes import (
    changed_keys,
    new_training_pairs,
)
from stedi_assets.contract.customers import build_customers_curated
from stedi_assets.contract.readings import build_machine_learning_curated
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.flow import publish, read_table
from stedi_assets.publishing.increment_plan import Increment
from stedi_assets.publishing.publication import Publication, PublishEvents, Sources
from stedi_assets.storage import delta_tables
from stedi_assets.tables.curated import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)


@dg.asset(
    deps=[CUSTOMER_TRUSTED.key, ACCELEROMETER_TRUSTED.key],
    **CUSTOMERS_CURATED.asset_options(),
)
def customers_curated(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Consenting customers who have at least one reading in accelerometer_trusted.

    The customers whose step-trainer readings can be paired with phone readings: the population
    of the machine-learning table. Same columns as customer_trusted. Contains personal data.
    """
    spark = pyspark.spark_session
    customers_table, readings_table = CUSTOMER_TRUSTED.table, ACCELEROMETER_TRUSTED.table

    def build() -> Publication:
        customers = read_table(spark, lake.layout, CUSTOMER_TRUSTED)
        readings = read_table(spark, lake.layout, ACCELEROMETER_TRUSTED)
        return Publication(
            build_customers_curated(customers, readings),
            lambda rows: privacy.customers_not_in(rows, customers),
        )

    def build_increment(increment: Increment) -> Publication | None:
        """When the consenting customers are the same and phone readings were only added:
        the consenting customers with added readings who are not curated yet."""
        readings = increment.changed(readings_table)
        if increment.changed(customers_table) is not None or (
            readings is not None and not readings.additions_only
        ):
            return None
        customers = increment.now(spark, lake.layout, customers_table)
        curated = delta_tables.read_version(
            spark, CUSTOMERS_CURATED.uri(lake.layout), increment.version
        )
        if readings is None:
            return Publication(customers.limit(0), lambda rows: rows.limit(0))
        added_readings, _ = increment.changes(spark, lake.layout, readings_table)
        added = build_customers_curated(customers, added_readings).join(
            curated.select("email"), "email", "left_anti"
        )
        return Publication(added, lambda rows: privacy.customers_not_in(rows, customers))

    sources = Sources(tables=[customers_table, readings_table])
    yield from publish(
        context, spark, lake, None, CUSTOMERS_CURATED, sources, lambda _: build(), build_increment
    )


DEVICE_KEY = ["serialNumber", "sensorReadingTime"]
"""What identifies a device reading in a training pair."""


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(DataFrame.unionByName, frames)


@dg.asset(
    deps=[STEP_TRAINER_TRUSTED.key, ACCELEROMETER_TRUSTED.key, CUSTOMERS_CURATED.key],
    **MACHINE_LEARNING_CURATED.asset_options(),
)
def machine_learning_curated(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Training data for step detection: each step-trainer reading beside the same customer's
    phone readings in the same millisecond.

    One row per pair of a step_trainer_trusted reading and an accelerometer_trusted reading of
    the same customer with `sensorReadingTime = timestamp`. Pairing on the time alone, as the
    course's reference solution does, matches one person's device with another person's phone.
    Built from trusted tables only, so every row comes from a customer who consented to
    research. No name, email, phone or birthday; the device's serial number is a pseudonym
    (it identifies a customer only through the customer tables, which this table's readers do
    not get) and an erasure removes its rows.
    """
    spark = pyspark.spark_session
    devices_table, phones_table, customers_table = (
        table.table for table in (STEP_TRAINER_TRUSTED, ACCELEROMETER_TRUSTED, CUSTOMERS_CURATED)
    )

    def violations(
        device_readings: DataFrame, few: bool = False
    ) -> Callable[[DataFrame], DataFrame]:
        """The pairs whose device reading is not in `device_readings`; when the pairs checked
        are `few` (an increment's), the device readings are scanned once for their keys
        rather than shuffled."""

        def outside(rows: DataFrame) -> DataFrame:
            trusted = device_readings.select(*DEVICE_KEY)
            if few:
                trusted = trusted.join(
                    F.broadcast(rows.select(*DEVICE_KEY).distinct()), DEVICE_KEY, "left_semi"
                )
            return rows.join(trusted.distinct(), DEVICE_KEY, "left_anti")

        return outside

    def build() -> Publication:
        device_readings, phone_readings, customers = (
            read_table(spark, lake.layout, table)
            for table in (STEP_TRAINER_TRUSTED, ACCELEROMETER_TRUSTED, CUSTOMERS_CURATED)
        )
        pairs = build_machine_learning_curated(device_readings, phone_readings, customers)
        return Publication(pairs, violations(device_readings))

    def _devices_paired_again(
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
        if increment.changed(customers_table) is not None:
            customers_before = increment.before(spark, lake.layout, customers_table)
            owned = F.struct("serialNumber").alias("owned")
            owners = _union([customers_before.select("email", "serialNumber"), owners])
            owner_changed = changed_keys(
                customers_before.select("email", owned), customers.select("email", owned), "email"
            )
            paired_again.append(owner_changed.join(owners, "email").select("serialNumber"))
        lost_by_owner = owners.join(F.broadcast(users), "email", "left_semi")
        return _union([*paired_again, lost_by_owner.select("serialNumber")]).distinct()

    def build_increment(increment: Increment) -> Publication | None:
        """The pairs added readings make; and for every serial number whose device readings
        lost a row, whose owner changed or whose owner's phone readings lost a row, its pairs
        made again."""
        devices, phones = increment.changed(devices_table), increment.changed(phones_table)
        if any(change is not None and not change.increments_only for change in (devices, phones)):
            return None
        device_readings = increment.now(spark, lake.layout, devices_table)
        phone_readings = increment.now(spark, lake.layout, phones_table)
        customers = increment.now(spark, lake.layout, customers_table)
        added_devices, removed_devices = (
            increment.changes(spark, lake.layout, devices_table)
            if devices
            else (device_readings.limit(0), device_readings.limit(0))
        )
        added_phones, removed_phones = (
            increment.changes(spark, lake.layout, phones_table)
            if phones
            else (phone_readings.limit(0), phone_readings.limit(0))
        )
        # Few added readings are broadcast: the trusted tables are then scanned, not shuffled.
        few = all(change is None or change.few_added for change in (devices, phones))
        if few:
            added_devices, added_phones = F.broadcast(added_devices), F.broadcast(added_phones)
        serials = _devices_paired_again(
            increment, customers, removed_devices, removed_phones
        ).persist()
        recomputed = F.broadcast(serials)
        # The added device readings with every phone reading, and the earlier ones with the
        # added phone readings; every reading of a device paired again with every phone
        # reading (its rows are replaced).
        devices_paired = added_devices.join(recomputed, "serialNumber", "left_anti")
        if not serials.isEmpty():
            devices_paired = devices_paired.unionByName(
                device_readings.join(recomputed, "serialNumber", "left_semi")
            )
        earlier_devices = increment.before(spark, lake.layout, devices_table)
        pairs = new_training_pairs(
            earlier_devices.join(recomputed, "serialNumber", "left_anti"),
            devices_paired,
            phone_readings,
            added_phones,
            customers,
        )
        # A device reading removed: every pair is checked again, not only the added ones.
        judged_again = devices is not None and not devices.additions_only
        # A device has pairs only if a curated customer carried it: of the devices paired
        # again, only those have rows to replace.
        carried_before = (
            increment.before(spark, lake.layout, customers_table)
            if increment.changed(customers_table) is not None
            else customers
        ).select("serialNumber")
        return Publication(
            pairs,
            violations(device_readings, few=few and not judged_again),
            key=["serialNumber"],
            removed_keys=serials.join(carried_before, "serialNumber", "left_semi"),
            judged_again=judged_again,
        )

    sources = Sources(tables=[devices_table, phones_table, customers_table])
    yield from publish(
        context,
        spark,
        lake,
        None,
        MACHINE_LEARNING_CURATED,
        sources,
        lambda _: build(),
        build_increment,
    )
