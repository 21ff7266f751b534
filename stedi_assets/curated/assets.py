"""The curated zone: the tables data scientists use, built from trusted tables only."""

import dagster as dg
from dagster_pyspark import PySparkResource

from stedi_assets.contract import privacy
from stedi_assets.contract.customers import build_customers_curated
from stedi_assets.contract.readings import build_machine_learning_curated
from stedi_assets.curated.tables import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.publishing import Publication, PublishEvents, Sources, publish, read_table
from stedi_assets.resources import LakeResource
from stedi_assets.trusted.tables import (
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

    def build() -> Publication:
        customers = read_table(spark, lake.layout, CUSTOMER_TRUSTED)
        readings = read_table(spark, lake.layout, ACCELEROMETER_TRUSTED)
        return Publication(
            build_customers_curated(customers, readings),
            lambda rows: privacy.customers_not_in(rows, customers),
        )

    sources = Sources(tables=[CUSTOMER_TRUSTED.table, ACCELEROMETER_TRUSTED.table])
    yield from publish(context, spark, lake, CUSTOMERS_CURATED, sources, build)


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
    research. No personal data: no name, email, phone or birthday.
    """
    spark = pyspark.spark_session
    upstream = (STEP_TRAINER_TRUSTED, ACCELEROMETER_TRUSTED, CUSTOMERS_CURATED)

    def build() -> Publication:
        device_readings, phone_readings, customers = (
            read_table(spark, lake.layout, table) for table in upstream
        )
        pairs = build_machine_learning_curated(device_readings, phone_readings, customers)
        trusted_keys = device_readings.select("serialNumber", "sensorReadingTime").distinct()
        return Publication(
            pairs,
            lambda rows: rows.join(
                trusted_keys, ["serialNumber", "sensorReadingTime"], "left_anti"
            ),
        )

    sources = Sources(tables=[table.table for table in upstream])
    yield from publish(context, spark, lake, MACHINE_LEARNING_CURATED, sources, build)
