"""The trusted zone: landing data that passed the contract, from consenting customers only."""

from collections.abc import Sequence

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract import privacy
from stedi_assets.contract.accounting import KEPT, TrustedBuild
from stedi_assets.contract.changes import changed_keys, reclassified, with_reclassified
from stedi_assets.contract.customers import (
    build_customer_trusted,
    current_customer_records,
    customer_increment,
    load_customers,
    newest_update_by_email,
)
from stedi_assets.contract.erasure import ErasedHashes
from stedi_assets.contract.landing import (
    ACCELEROMETER,
    STEP_TRAINER,
    LandingSource,
    load_landing,
)
from stedi_assets.contract.readings import (
    build_accelerometer_trusted,
    build_step_trainer_trusted,
    device_attribution,
    device_disposition,
    phone_consent,
    phone_disposition,
)
from stedi_assets.erasure.lake import erased_hashes
from stedi_assets.orchestration.landing import landing_asset_key
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.flow import publish, read_table
from stedi_assets.publishing.increment_plan import FEW_NEW_BYTES, Increment
from stedi_assets.publishing.metadata import readings_per_customer
from stedi_assets.publishing.publication import Publication, PublishEvents, Sources
from stedi_assets.settings import ConsentPolicy
from stedi_assets.storage import delta_tables
from stedi_assets.storage.landing_store import LandingFile, LandingStore, landing_store
from stedi_assets.tables.catalogue import CURRENT_CUSTOMERS, ERASURE_LOG, LakeTable
from stedi_assets.tables.curated import CUSTOMERS_CURATED
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)


def _erased(spark: SparkSession, lake: LakeResource) -> ErasedHashes | None:
    """The erasure log's hashes: every landing line of the people (and devices) it names is
    dropped when parsed."""
    try:
        return erased_hashes(spark, lake.layout, lake.erasure_salt)
    except ValueError as error:  # a log, but no salt
        raise dg.Failure(str(error)) from None


def _uris(lake: LakeResource, files: Sequence[LandingFile]) -> list[str]:
    return [lake.layout.uri(file.key) for file in files]


def _store(lake: LakeResource, s3: S3Resource) -> LandingStore:
    return landing_store(lake.layout, s3.get_client)


@dg.asset(
    deps=[landing_asset_key("customer")],
    **CUSTOMER_TRUSTED.asset_options(),
)
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
    spark = pyspark.spark_session

    def build(files: Sequence[LandingFile], increment: Increment | None = None) -> Publication:
        ranges = lake.plausible_ranges()
        parsed = load_customers(spark, _uris(lake, files), ranges, _erased(spark, lake))
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
        records_before = delta_tables.read_version(spark, lake.layout.parsed("customer"))
        change = customer_increment(parsed, records_before)
        return Publication(
            change.build.rows,
            lambda rows: privacy.not_current_or_not_consenting(rows, change.newest_update),
            parsed_landing=[parsed],
            build=change.build,
            companion_tables=[(CURRENT_CUSTOMERS, change.current)],
            key=["email"],
            removed_keys=change.emails,
        )

    sources = Sources(landing=["customer"], tables=[ERASURE_LOG])
    yield from publish(
        context,
        spark,
        lake,
        _store(lake, s3),
        CUSTOMER_TRUSTED,
        sources,
        build,
        lambda increment: build(increment.files, increment),
    )


def _new_lines(
    spark: SparkSession,
    lake: LakeResource,
    source: LandingSource,
    files: Sequence[LandingFile],
    increment: Increment | None,
) -> tuple[DataFrame, DataFrame | None, bool]:
    """A reading source's parsed landing lines: of every file for a build; for an increment,
    of the files added since alone, with the records the earlier builds read, and whether the
    new files are few enough to broadcast their records."""
    ranges = lake.plausible_ranges()
    parsed = load_landing(spark, _uris(lake, files), source, ranges, erased=_erased(spark, lake))
    if increment is None:
        return parsed, None, False
    read_before = delta_tables.read_version(spark, lake.layout.parsed(source.name))
    few = sum(file.size for file in files) <= FEW_NEW_BYTES
    return parsed, read_before, few


def _judged_again(
    build: TrustedBuild,
    read_before: DataFrame,
    key: str,
    before: DataFrame,
    after: DataFrame,
    disposition: Column,
    columns: Sequence[str],
) -> tuple[TrustedBuild, DataFrame]:
    """An increment's build with the records read before whose `key`'s attribution changed
    from `before` to `after` judged again; and the keys whose rows it replaces: those with a
    record kept before (the table holds no row of the others, whose kept records it adds)."""
    before, after = before.persist(), after.persist()  # each read three times
    keys = changed_keys(before, after, key).persist()
    records = read_before.join(F.broadcast(keys), key, "left_semi")
    judged = reclassified(records, key, before, after, disposition, columns)
    kept_before = judged.where(F.col("before") == KEPT).select(key).distinct()
    return with_reclassified(build, judged, columns), kept_before


def _reading_increment(
    build: TrustedBuild,
    read_before: DataFrame | None,
    key: str,
    attribution_before: DataFrame | None,
    attribution_now: DataFrame,
    disposition: Column,
    source: LandingSource,
) -> tuple[TrustedBuild, DataFrame | None]:
    """A reading table's build, and for an increment whose attribution changed upstream the
    keys whose rows it replaces (None when only files were added)."""
    if read_before is None or attribution_before is None:
        return build, None
    return _judged_again(
        build,
        read_before,
        key,
        attribution_before,
        attribution_now,
        disposition,
        source.columns,
    )


@dg.asset(
    deps=[landing_asset_key("accelerometer"), customer_trusted],
    **ACCELEROMETER_TRUSTED.asset_options(),
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
    spark = pyspark.spark_session
    since_consent = lake.consent_policy is ConsentPolicy.SINCE_CONSENT
    customers_table = CUSTOMER_TRUSTED.table

    def build(files: Sequence[LandingFile], increment: Increment | None = None) -> Publication:
        customers = (
            increment.now(spark, lake.layout, customers_table)
            if increment
            else read_table(spark, lake.layout, CUSTOMER_TRUSTED)
        )
        consent = phone_consent(customers)
        parsed, read_before, few = _new_lines(spark, lake, ACCELEROMETER, files, increment)
        readings = build_accelerometer_trusted(parsed, consent, since_consent, read_before, few)
        consent_changed = increment is not None and increment.changed(customers_table) is not None
        consent_before = (
            phone_consent(increment.before(spark, lake.layout, customers_table))
            if increment is not None and consent_changed
            else None
        )
        readings, users = _reading_increment(
            readings,
            read_before,
            "user",
            consent_before,
            consent,
            phone_disposition(since_consent),
            ACCELEROMETER,
        )
        return Publication(
            readings.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "timestamp", privacy.consent_by_email(customers, "user"), since_consent
            ),
            parsed_landing=[parsed],
            build=readings,
            charts=lambda rows: {"readings_per_customer": readings_per_customer(rows, "user")},
            key=["user"],
            removed_keys=users,
            judged_again=consent_changed,
        )

    sources = Sources(landing=["accelerometer"], tables=[customers_table, ERASURE_LOG])
    yield from publish(
        context,
        spark,
        lake,
        _store(lake, s3),
        ACCELEROMETER_TRUSTED,
        sources,
        build,
        lambda increment: build(increment.files, increment),
    )


@dg.asset(
    deps=[landing_asset_key("step_trainer"), customer_trusted, CUSTOMERS_CURATED.key],
    **STEP_TRAINER_TRUSTED.asset_options(),
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
    spark = pyspark.spark_session
    since_consent = lake.consent_policy is ConsentPolicy.SINCE_CONSENT
    upstream: tuple[LakeTable, LakeTable] = (CURRENT_CUSTOMERS, CUSTOMERS_CURATED.table)

    def build(files: Sequence[LandingFile], increment: Increment | None = None) -> Publication:
        current, curated = (
            increment.now(spark, lake.layout, table)
            if increment
            else delta_tables.read_table(spark, table.uri(lake.layout))
            for table in upstream
        )
        attribution = device_attribution(current, curated)
        parsed, read_before, few = _new_lines(spark, lake, STEP_TRAINER, files, increment)
        device_readings = build_step_trainer_trusted(
            parsed, attribution, since_consent, read_before, few
        )
        owners_changed = increment is not None and any(
            increment.changed(table) is not None for table in upstream
        )
        attribution_before = (
            device_attribution(*(increment.before(spark, lake.layout, table) for table in upstream))
            if increment is not None and owners_changed
            else None
        )
        device_readings, serials = _reading_increment(
            device_readings,
            read_before,
            "serialNumber",
            attribution_before,
            attribution,
            device_disposition(since_consent),
            STEP_TRAINER,
        )
        consent = privacy.consent_by_device(current, curated)
        return Publication(
            device_readings.rows,
            lambda rows: privacy.readings_outside_consent(
                rows, "sensorReadingTime", consent, since_consent
            ),
            parsed_landing=[parsed],
            build=device_readings,
            key=["serialNumber"],
            removed_keys=serials,
            judged_again=owners_changed,
        )

    sources = Sources(landing=["step_trainer"], tables=[*upstream, ERASURE_LOG])
    yield from publish(
        context,
        spark,
        lake,
        _store(lake, s3),
        STEP_TRAINER_TRUSTED,
        sources,
        build,
        lambda increment: build(increment.files, increment),
    )
