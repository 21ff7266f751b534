"""Recomputing only what changed: the keys whose attribution changed between two builds, how
their records' dispositions move, and the training pairs a change adds.

A reading's disposition depends on its own fields and on one row of an attribution frame (per
user, the consent; per serial number, its owners and the owner's consent). When that row is
the same in two builds, so is the disposition of every record of the key; so an increment
re-judges only the records of the keys whose row changed, and counts how many moved from one
disposition to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import KEPT, Accounting, TrustedBuild
from stedi_assets.contract.readings import build_machine_learning_curated


def changed_keys(before: DataFrame, after: DataFrame, key: str) -> DataFrame:
    """The values of `key` whose row differs between two attribution frames (one row per
    key), or that only one of them has."""
    values = [name for name in after.columns if name != key]

    def keyed(frame: DataFrame, name: str) -> DataFrame:
        return frame.select(key, F.struct(*values).alias(name))

    joined = keyed(before, "before").join(keyed(after, "after"), key, "full_outer")
    return joined.where(~F.col("before").eqNullSafe(F.col("after"))).select(key)


def reclassified(
    records: DataFrame,
    key: str,
    before: DataFrame,
    after: DataFrame,
    disposition: Column,
    columns: Sequence[str],
) -> DataFrame:
    """`records` (distinct records of changed keys) with their disposition under the `before`
    attribution (`before`) and under the `after` one (`after`)."""
    judged_before = (
        records.select(*columns)
        .join(F.broadcast(before), key, "left")
        .select(*columns, disposition.alias("before"))
    )
    return judged_before.join(F.broadcast(after), key, "left").select(
        *columns, "before", disposition.alias("after")
    )


def with_reclassified(
    build: TrustedBuild, records: DataFrame, columns: Sequence[str]
) -> TrustedBuild:
    """An increment's build (what its new lines add) together with the records it re-judged
    (`reclassified`): the kept ones are added too, and the accounting moves each re-judged
    record from its old disposition to its new one. One small Spark job."""
    records = records.persist()
    counts = dict(build.accounting.counts)
    for row in records.groupBy("before", "after").count().collect():
        counts[row["before"]] -= row["count"]
        counts[row["after"]] += row["count"]
    kept_again = records.where(F.col("after") == KEPT).select(*columns)
    return replace(
        build,
        rows=build.rows.unionByName(kept_again),
        accounting=Accounting(build.accounting.lines_read, build.accounting.blank_lines, counts),
    )


def pairs_of_devices(
    device_readings: DataFrame, phone_readings: DataFrame, customers: DataFrame
) -> DataFrame:
    """The training pairs of some device readings (few, or few devices): the phone readings
    of their owners are found first, so the phone readings are scanned, not shuffled."""
    serials = device_readings.select("serialNumber").distinct()
    owners = customers.join(F.broadcast(serials), "serialNumber", "left_semi")
    users = owners.select(F.col("email").alias("user"))
    phones = phone_readings.join(F.broadcast(users), "user", "left_semi")
    return build_machine_learning_curated(device_readings, phones, owners)


def pairs_of_phones(
    device_readings: DataFrame, phone_readings: DataFrame, customers: DataFrame
) -> DataFrame:
    """The training pairs of some phone readings (few): the device readings of their users'
    devices are found first, so the device readings are scanned, not shuffled."""
    users = phone_readings.select(F.col("user").alias("email")).distinct()
    owners = customers.join(F.broadcast(users), "email", "left_semi")
    devices = device_readings.join(
        F.broadcast(owners.select("serialNumber")), "serialNumber", "left_semi"
    )
    return build_machine_learning_curated(devices, phone_readings, owners)


def new_training_pairs(
    earlier_device_readings: DataFrame,
    devices_paired: DataFrame,
    phone_readings: DataFrame,
    added_phone_readings: DataFrame,
    customers: DataFrame,
) -> DataFrame:
    """The pairs of machine_learning_curated an increment makes: each device reading of
    `devices_paired` (the added ones, and every reading of a device whose pairs are made
    again) with every phone reading, and each other earlier device reading with the added
    phone readings (the join distributes over the union). `phone_readings` are all of them;
    `earlier_device_readings` leave out the devices paired again."""
    return pairs_of_devices(devices_paired, phone_readings, customers).unionByName(
        pairs_of_phones(earlier_device_readings, added_phone_readings, customers)
    )
