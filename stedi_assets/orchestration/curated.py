"""The curated zone: the tables data scientists use, built from trusted tables only."""

import dagster as dg
from dagster_pyspark import PySparkResource

from stedi_assets.builds.curated import CustomersCuratedBuilder, MachineLearningCuratedBuilder
from stedi_assets.orchestration.dependencies import asset_deps
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.flow import publish
from stedi_assets.publishing.publication import PublishEvents
from stedi_assets.tables.curated import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED


@dg.asset(deps=asset_deps(CustomersCuratedBuilder.sources), **CUSTOMERS_CURATED.asset_options())
def customers_curated(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Consenting customers who have at least one reading in accelerometer_trusted.

    The customers whose step-trainer readings can be paired with phone readings: the population
    of the machine-learning table. Same columns as customer_trusted. Contains personal data.
    """
    yield from publish(context, lake, None, CustomersCuratedBuilder(pyspark.spark_session, lake))


@dg.asset(
    deps=asset_deps(MachineLearningCuratedBuilder.sources),
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
    yield from publish(
        context, lake, None, MachineLearningCuratedBuilder(pyspark.spark_session, lake)
    )
