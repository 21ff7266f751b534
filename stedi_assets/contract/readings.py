"""Sensor readings: phone accelerometer and step trainer, kept only for consenting customers."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import (
    BEFORE_CONSENT,
    DUPLICATE,
    KEPT,
    NO_CONSENT,
    QUARANTINED,
    WITHHELD,
    TrustedBuild,
    disposition_by_consent,
    distinct_records,
    trusted_build,
    unless_read_before,
    valid_records,
)
from stedi_assets.contract.identity import normalized_email
from stedi_assets.contract.landing import ACCELEROMETER, ERASED, STEP_TRAINER

ACCELEROMETER_DISPOSITIONS = (KEPT, QUARANTINED, DUPLICATE, NO_CONSENT, BEFORE_CONSENT, ERASED)
STEP_TRAINER_DISPOSITIONS = (
    KEPT,
    QUARANTINED,
    DUPLICATE,
    WITHHELD,
    NO_CONSENT,
    BEFORE_CONSENT,
    ERASED,
)
MACHINE_LEARNING_COLUMNS = (
    "sensorReadingTime",
    "serialNumber",
    "distanceFromObject",
    "x",
    "y",
    "z",
)


def phone_consent(customer_trusted: DataFrame) -> DataFrame:
    """What decides a phone reading's disposition, per user: the consent time of the customer
    in customer_trusted (no row: no consent)."""
    return customer_trusted.select(
        F.col("email").alias("user"),
        F.col("shareWithResearchAsOfDate").alias("consent_time"),
    )


def phone_disposition(since_consent: bool) -> Column:
    """A phone reading's disposition, given its user's `phone_consent`."""
    return disposition_by_consent(F.col("timestamp"), F.col("consent_time"), since_consent)


def build_accelerometer_trusted(
    parsed_readings: DataFrame,
    consent: DataFrame,
    since_consent: bool,
    read_before: DataFrame | None = None,
    few: bool = False,
) -> TrustedBuild:
    """accelerometer_trusted: each distinct phone reading of a consenting customer, once.

    A reading delivered twice is one reading; distinct readings in the same millisecond are all
    kept. Under `since_consent`, readings taken before the customer's consent are left out.
    `consent` is `phone_consent` of customer_trusted. In an increment (`read_before`: the
    readings earlier builds read, from files still in landing), the result is what the new
    files add: a reading read before is a duplicate (`few`: the new files are small enough for
    their records to be broadcast).
    """
    records = valid_records(parsed_readings).withColumn("user", normalized_email(F.col("user")))
    classified = (
        distinct_records(records, ACCELEROMETER.columns, read_before, few)
        .join(F.broadcast(consent), "user", "left")
        .withColumn("disposition", unless_read_before(phone_disposition(since_consent)))
    )
    return trusted_build(
        parsed_readings, classified, ACCELEROMETER.columns, ACCELEROMETER_DISPOSITIONS
    )


def serial_number_owners(current_customers: DataFrame) -> DataFrame:
    """Per serial number, how many current customer records carry it and, if one, whose it is.

    STEDI's fulfilment reused serial numbers: a device several customers carry cannot be
    attributed to any of them, since its readings may be another person's.
    """
    return current_customers.groupBy("serialNumber").agg(
        F.count(F.lit(1)).alias("owners"),
        F.when(F.count(F.lit(1)) == 1, F.min("email")).alias("owner"),
    )


def device_attribution(current_customers: DataFrame, customers_curated: DataFrame) -> DataFrame:
    """What decides a device reading's disposition, per serial number: how many current
    customer records carry it, the one who does, and that owner's consent time when they are
    a curated customer."""
    consent = customers_curated.select(
        F.col("email").alias("owner"),
        F.col("shareWithResearchAsOfDate").alias("consent_time"),
    )
    return serial_number_owners(current_customers).join(consent, "owner", "left")


def device_disposition(since_consent: bool) -> Column:
    """A device reading's disposition, given its serial number's `device_attribution`."""
    return F.when(F.col("owners") > 1, F.lit(WITHHELD)).otherwise(
        disposition_by_consent(F.col("sensorReadingTime"), F.col("consent_time"), since_consent)
    )


def build_step_trainer_trusted(
    parsed_readings: DataFrame,
    attribution: DataFrame,
    since_consent: bool,
    read_before: DataFrame | None = None,
    few: bool = False,
) -> TrustedBuild:
    """step_trainer_trusted: device readings attributable to exactly one curated customer.

    `attribution` is `device_attribution`. In an increment (`read_before`, `few`), what the
    new files add, as for accelerometer_trusted."""
    classified = (
        distinct_records(valid_records(parsed_readings), STEP_TRAINER.columns, read_before, few)
        .join(F.broadcast(attribution), "serialNumber", "left")
        .withColumn("disposition", unless_read_before(device_disposition(since_consent)))
    )
    return trusted_build(
        parsed_readings, classified, STEP_TRAINER.columns, STEP_TRAINER_DISPOSITIONS
    )


def build_machine_learning_curated(
    step_trainer_trusted: DataFrame,
    accelerometer_trusted: DataFrame,
    customers_curated: DataFrame,
) -> DataFrame:
    """machine_learning_curated: a device reading paired with the same person's phone readings
    in the same millisecond. Joining on the time alone would pair one person's device with
    another person's phone."""
    device_owner = customers_curated.select("serialNumber", F.col("email").alias("user"))
    device_readings = step_trainer_trusted.join(device_owner, "serialNumber")
    return device_readings.join(
        accelerometer_trusted,
        (device_readings["user"] == accelerometer_trusted["user"])
        & (device_readings["sensorReadingTime"] == accelerometer_trusted["timestamp"]),
    ).select(*MACHINE_LEARNING_COLUMNS)
