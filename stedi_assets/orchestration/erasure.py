"""Erasure and history retention as Dagster jobs: what an engineer launches from the UI (or
`stedi erase`), and the daily vacuum that ages old table versions out."""

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource
from pydantic import Field

from stedi_assets.erasure.lake import (
    erase_from_landing,
    erase_from_tables,
    record_erasure,
    serials_only_they_carry,
    vacuum_lake,
)
from stedi_assets.erasure.matching import ErasedPeople
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.storage.landing_store import landing_store

HASH_PATTERN = r"^[0-9a-f]{64}$"


class ErasureRequest(dg.Config):
    """Who to erase, named by hash so that no email is stored with the run."""

    email_hash: str = Field(
        pattern=HASH_PATTERN,
        description="Salted SHA-256 of the trimmed, lower-cased email, as "
        "`stedi erase --print-hash EMAIL` prints it.",
    )
    vacuum_now: bool = Field(
        default=False,
        description="Delete every older table version at once, instead of when the history "
        "retention (STEDI_HISTORY_RETENTION_HOURS) has passed.",
    )


@dg.op
def erase_customer(
    context: dg.OpExecutionContext,
    config: ErasureRequest,
    pyspark: PySparkResource,
    lake: LakeResource,
    s3: S3Resource,
) -> None:
    """Remove a customer from every zone: landing lines, table rows, and (by vacuum) history."""
    if not lake.erasure_salt:
        raise dg.Failure("Erasure needs STEDI_ERASURE_SALT, the salt its email hashes use.")
    spark = pyspark.spark_session
    store = landing_store(lake.layout, s3.get_client)
    people = serials_only_they_carry(
        store, ErasedPeople(lake.erasure_salt, frozenset([config.email_hash]))
    )
    context.log.info(f"Erasing 1 customer and {len(people.serial_numbers)} devices only they use")
    landing = erase_from_landing(store, people, context.log.info)
    for key in landing.unsearchable:
        context.log.warning(
            f"{key} was not searched: the erasure cannot open its compression. Remove it, or "
            "land it again uncompressed or as .gz, then erase again (runs do not read it)."
        )
    rows = erase_from_tables(spark, lake.layout, people, context.log.info)
    record_erasure(spark, lake.layout, people, landing.lines_removed, sum(rows.values()))
    retention = 0 if config.vacuum_now else lake.history_retention_hours
    vacuumed = vacuum_lake(spark, lake.layout, retention)
    context.add_output_metadata(
        {
            "landing_lines_removed": landing.lines_removed,
            "landing_files_not_searched": dg.MetadataValue.json(landing.unsearchable),
            "table_rows_removed": sum(rows.values()),
            "rows_removed_by_table": dg.MetadataValue.json(rows),
            "vacuum_retention_hours": retention,
            "tables_vacuumed": len(vacuumed),
        }
    )


@dg.job(description="Erase one customer from the lake: landing lines, table rows, history.")
def erase_customer_job() -> None:
    erase_customer()


@dg.op
def vacuum_old_versions(
    context: dg.OpExecutionContext, pyspark: PySparkResource, lake: LakeResource
) -> None:
    """Delete table versions older than the history retention, so withdrawn or erased
    customers' rows do not outlive it in Delta's history."""
    vacuumed = vacuum_lake(pyspark.spark_session, lake.layout, lake.history_retention_hours)
    context.log.info(f"Vacuumed {len(vacuumed)} tables: {lake.history_retention_hours} h kept")


@dg.job(description="Age old table versions out of the lake after the history retention.")
def vacuum_job() -> None:
    vacuum_old_versions()


vacuum_schedule = dg.ScheduleDefinition(
    name="vacuum_schedule",
    job=vacuum_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, delete table versions older than the history retention.",
)
