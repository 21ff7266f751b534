"""The trusted zone: landing data that passed the contract, from consenting customers only."""

from collections.abc import Sequence

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame, SparkSession

from stedi_assets import delta_tables
from stedi_assets.catalogue import ERASURE_LOG
from stedi_assets.contract import privacy
from stedi_assets.contract.customers import (
    build_customer_trusted,
    current_customer_records,
    load_customers,
    newest_update_by_email,
)
from stedi_assets.contract.landing import (
    ACCELEROMETER,
    STEP_TRAINER,
    LandingSource,
    load_landing,
)
from stedi_assets.contract.readings import (
    build_accelerometer_trusted,
    build_step_trainer_trusted,
)
from stedi_assets.curated.tables import CUSTOMERS_CURATED
from stedi_assets.erasure.lake import erased_email_hashes
from stedi_assets.landing.assets import landing_asset_key
from stedi_assets.metadata import readings_per_customer
from stedi_assets.publishing import Publication, PublishEvents, Sources, publish, read_table
from stedi_assets.resources import LakeResource
from stedi_assets.settings import ConsentPolicy
from stedi_assets.trusted.tables import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)


def _landing_readings(
    spark: SparkSession,
    lake: LakeResource,
    source: LandingSource,
    added_files: Sequence[str] | None,
) -> tuple[DataFrame, DataFrame | None]:
    """A reading source's parsed landing lines: of every file for a build, of the added files
    alone for an increment, with then the records the earlier builds read."""
    ranges = lake.plausible_ranges()
    if added_files is None:
        return load_landing(spark, lake.layout.landing(source.name), source, ranges), None
    parsed = load_landing(spark, list(added_files), source, ranges)
    return parsed, delta_tables.read_version(spark, lake.layout.parsed(source.name))


@dg.asset(
    deps=[landing_asset_key("customer")],
    **CUSTOMER_TRUSTED.asset_options(),
)
def customer_trusted(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Customers who share their data with research: one row per customer, their current record.

    Built from customer landing: lines that break the contract go to `customer/quarantine`;
    emails are trimmed and lower-cased; each customer's newest record (greatest
    `lastUpdateDate`) is current, and the customer is kept only if that record has a
    `shareWithResearchAsOfDate`. A customer who withdraws consent in a later record leaves this
    table on the next run. Contains personal data.
    """
    spark = pyspark.spark_session

    def build() -> Publication:
        parsed = load_customers(spark, lake.layout.landing("customer"), lake.plausible_ranges())
        erased = erased_email_hashes(spark, lake.layout)
        if erased is not None and not lake.erasure_salt:
            raise dg.Failure(
                "The lake has an erasure log: set STEDI_ERASURE_SALT, its hashes' salt."
            )
        customers = build_customer_trusted(parsed, erased, lake.erasure_salt or "")
        newest = newest_update_by_email(parsed)
        return Publication(
            customers.rows,
            lambda rows: privacy.not_current_or_not_consenting(rows, newest),
            parsed_landing=[parsed],
            build=customers,
        )

    sources = Sources(landing=["customer"], tables=[ERASURE_LOG])
    yield from publish(context, spark, lake, CUSTOMER_TRUSTED, sources, build)


@dg.asset(
    deps=[landing_asset_key("accelerometer"), customer_trusted],
    **ACCELEROMETER_TRUSTED.asset_options(),
)
def accelerometer_trusted(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Phone accelerometer readings of customers in customer_trusted, each distinct reading once.

    A reading delivered twice (a redelivered file) is kept once; distinct readings in the same
    millisecond are all kept. Under the `since_consent` policy (the default) readings taken
    before the customer's `shareWithResearchAsOfDate` are excluded. Readings of unknown or
    non-consenting users are excluded and counted. Contains personal data (the user's email).
    """
    spark = pyspark.spark_session

    def build(added_files: Sequence[str] | None = None) -> Publication:
        since_consent = lake.consent_policy is ConsentPolicy.SINCE_CONSENT
        customers = read_table(spark, lake.layout, CUSTOMER_TRUSTED)
        parsed, read_before = _landing_readings(spark, lake, ACCELEROMETER, added_files)
        readings = build_accelerometer_trusted(parsed, customers, since_consent, read_before)
        consent = privacy.consent_by_email(customers, "user")
        return Publication(
            readings.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "timestamp", consent, since_consent
            ),
            parsed_landing=[parsed],
            build=readings,
            charts=lambda rows: {"readings_per_customer": readings_per_customer(rows, "user")},
        )

    sources = Sources(landing=["accelerometer"], tables=[CUSTOMER_TRUSTED.table])
    yield from publish(context, spark, lake, ACCELEROMETER_TRUSTED, sources, build, build)


@dg.asset(
    deps=[
        landing_asset_key("step_trainer"),
        landing_asset_key("customer"),
        CUSTOMERS_CURATED.key,
    ],
    **STEP_TRAINER_TRUSTED.asset_options(),
)
def step_trainer_trusted(
    context: dg.AssetExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> PublishEvents:
    """Step-trainer readings attributed to a customer of customers_curated, each distinct once.

    A device reading is attributed through its `serialNumber` only when exactly one current
    customer record (consenting or not) carries it. STEDI's fulfilment reused some serial
    numbers: readings of such devices are withheld and counted, since they may be another
    person's. Under `since_consent`, readings before the owner's consent are excluded.
    No personal columns, but each row belongs to an identifiable customer's device.
    """
    spark = pyspark.spark_session

    def build(added_files: Sequence[str] | None = None) -> Publication:
        since_consent = lake.consent_policy is ConsentPolicy.SINCE_CONSENT
        customers = load_customers(spark, lake.layout.landing("customer"), lake.plausible_ranges())
        current = current_customer_records(customers)
        curated = read_table(spark, lake.layout, CUSTOMERS_CURATED)
        parsed, read_before = _landing_readings(spark, lake, STEP_TRAINER, added_files)
        device_readings = build_step_trainer_trusted(
            parsed, current, curated, since_consent, read_before
        )
        consent = privacy.consent_by_device(current, curated)
        return Publication(
            device_readings.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "sensorReadingTime", consent, since_consent
            ),
            parsed_landing=[parsed, customers],
            build=device_readings,
        )

    sources = Sources(landing=["step_trainer", "customer"], tables=[CUSTOMERS_CURATED.table])
    yield from publish(context, spark, lake, STEP_TRAINER_TRUSTED, sources, build, build)
