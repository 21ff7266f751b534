"""Privacy invariants, checked on a table before it is published, independently of how it was built.

Each function returns the rows that break the invariant; a table is only published when there are
none. They re-derive consent from the published upstream tables, so a bug in a transformation
cannot hide itself.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def readings_outside_consent(
    readings: DataFrame, reading_time: str, consent: DataFrame, since_consent: bool
) -> DataFrame:
    """Readings whose key has no row in `consent` (columns: the key, `consent_time`), or, under
    `since_consent`, that were taken before the consent time."""
    key = [column for column in consent.columns if column != "consent_time"]
    joined = readings.join(F.broadcast(consent), key, "left")
    outside = F.col("consent_time").isNull()
    if since_consent:
        outside = outside | (F.col(reading_time) < F.col("consent_time"))
    return joined.where(outside)


def consent_by_email(customers: DataFrame, key: str) -> DataFrame:
    return customers.select(
        F.col("email").alias(key),
        F.col("shareWithResearchAsOfDate").alias("consent_time"),
    ).where(F.col("consent_time").isNotNull())


def consent_by_device(current_customers: DataFrame, curated_customers: DataFrame) -> DataFrame:
    """Consent per serial number, for devices that exactly one current customer record carries
    and whose carrier is a curated customer."""
    sole_carriers = (
        current_customers.groupBy("serialNumber")
        .agg(F.count(F.lit(1)).alias("carriers"), F.min("email").alias("email"))
        .where(F.col("carriers") == 1)
    )
    return sole_carriers.join(consent_by_email(curated_customers, "email"), "email").select(
        "serialNumber", "consent_time"
    )


def not_current_or_not_consenting(customers: DataFrame, newest_update: DataFrame) -> DataFrame:
    """Customers without consent, or whose row is older than their newest landing record (a
    later record may have withdrawn consent). `newest_update`: `email`, `newest_update`."""
    joined = customers.join(newest_update, "email", "left")
    return joined.where(
        F.col("shareWithResearchAsOfDate").isNull()
        | F.col("newest_update").isNull()
        | (F.col("lastUpdateDate") < F.col("newest_update"))
    )


def customers_not_in(customers: DataFrame, consenting_customers: DataFrame) -> DataFrame:
    return customers.join(consenting_customers.select("email"), "email", "left_anti")


DEVICE_KEY = ["serialNumber", "sensorReadingTime"]
"""What identifies a device reading in a training pair."""


def pairs_outside(pairs: DataFrame, device_readings: DataFrame, few: bool = False) -> DataFrame:
    """Training pairs whose device reading is not in `device_readings` (the trusted ones); when
    the `pairs` are few (an increment's), the device readings are scanned once for their keys
    rather than shuffled."""
    trusted = device_readings.select(*DEVICE_KEY)
    if few:
        trusted = trusted.join(
            F.broadcast(pairs.select(*DEVICE_KEY).distinct()), DEVICE_KEY, "left_semi"
        )
    return pairs.join(trusted.distinct(), DEVICE_KEY, "left_anti")
