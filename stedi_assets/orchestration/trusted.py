"""The trusted zone: landing data that passed the contract, from consenting customers only."""

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource

from stedi_assets.builds.trusted import (
    AccelerometerTrustedBuilder,
    CustomerTrustedBuilder,
    StepTrainerTrustedBuilder,
    TrustedBuilder,
)
from stedi_assets.orchestration.dependencies import asset_deps
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.flow import publish
from stedi_assets.publishing.publication import PublishEvents
from stedi_assets.storage.landing_store import landing_store
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)


def _published(
    context: dg.AssetExecutionContext, lake: LakeResource, s3: S3Resource, builder: TrustedBuilder
) -> PublishEvents:
    """Publish a trusted table from the landing files as the lake's store lists them."""
    return publish(context, lake, landing_store(lake.layout, s3.get_client), builder)


@dg.asset(deps=asset_deps(CustomerTrustedBuilder.sources), **CUSTOMER_TRUSTED.asset_options())
def customer_trusted(
    context: dg.AssetExecutionContext,
    pyspark: PySparkResource,
    lake: LakeResource,
    s3: S3Resource,
) -> PublishEvents:
    """Customers who share their data with research: one row per customer, their current record.

    Built from customer landing: lines that break the contract go to `customer/quarantine`;
    emails are trimmed and lower-cased; each customer's newest record (greatest
    `lastUpdateDate`) is current, and the customer is kept only if that record has a
    `shareWithResearchAsOfDate`. A customer who withdraws consent in a later record leaves this
    table on the next run. Records of erased customers are dropped. Contains personal data.
    """
    yield from _published(context, lake, s3, CustomerTrustedBuilder(pyspark.spark_session, lake))


@dg.asset(
    deps=asset_deps(AccelerometerTrustedBuilder.sources), **ACCELEROMETER_TRUSTED.asset_options()
)
def accelerometer_trusted(
    context: dg.AssetExecutionContext,
    pyspark: PySparkResource,
    lake: LakeResource,
    s3: S3Resource,
) -> PublishEvents:
    """Phone accelerometer readings of customers in customer_trusted, each distinct reading once.

    A reading delivered twice (a redelivered file) is kept once; distinct readings in the same
    millisecond are all kept. Under the `since_consent` policy (the default) readings taken
    before the customer's `shareWithResearchAsOfDate` are excluded. Readings of unknown or
    non-consenting users are excluded and counted. Contains personal data (the user's email).
    """
    yield from _published(
        context, lake, s3, AccelerometerTrustedBuilder(pyspark.spark_session, lake)
    )


@dg.asset(
    deps=asset_deps(StepTrainerTrustedBuilder.sources), **STEP_TRAINER_TRUSTED.asset_options()
)
def step_trainer_trusted(
    context: dg.AssetExecutionContext,
    pyspark: PySparkResource,
    lake: LakeResource,
    s3: S3Resource,
) -> PublishEvents:
    """Step-trainer readings attributed to a customer of customers_curated, each distinct once.

    A device reading is attributed through its `serialNumber` only when exactly one current
    customer record (consenting or not) carries it. STEDI's fulfilment reused some serial
    numbers: readings of such devices are withheld and counted, since they may be another
    person's. Under `since_consent`, readings before the owner's consent are excluded.
    No personal columns, but each row belongs to an identifiable customer's device.
    """
    yield from _published(context, lake, s3, StepTrainerTrustedBuilder(pyspark.spark_session, lake))
