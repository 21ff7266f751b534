"""Dagster resources: the run's Spark session, boto3 for S3, and the lake's settings, each
configured from `settings` in one place (environment values as `EnvVar`s)."""

from __future__ import annotations

from typing import Any

import boto3
import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource

from stedi_assets import settings
from stedi_assets.contract import plausibility
from stedi_assets.contract.landing import SENSOR_READING_SOURCES
from stedi_assets.publishing.build_inputs import secret_digest
from stedi_assets.storage.glue import GlueCatalog
from stedi_assets.storage.hardening import private_process
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.spark import prepare_connect_client, spark_config


class SparkResource(PySparkResource):
    """The run's SparkSession (`dagster_pyspark`'s resource), checking first that a Spark
    Connect endpoint answers, when one is configured, and releasing the run's session on the
    server when the run ends (what it cached and analysed goes with it, so a server that
    serves run after run does not grow)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        remote = self.spark_config.get("spark.remote")
        if remote:
            prepare_connect_client(remote)
        private_process()
        super().setup_for_execution(context)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self.spark_config.get("spark.remote"):
            self.spark_session.stop()


def pyspark_resource() -> SparkResource:
    return SparkResource(spark_config=spark_config())


def from_environment(variable: str, default: Any = None, integer: bool = False) -> Any:
    """A resource field's value: `dg.EnvVar(variable)` when the environment sets it, so the UI
    shows the variable's name and each run reads its value, else `default`."""
    if not settings.is_set(variable):
        return default
    return dg.EnvVar.int(variable) if integer else dg.EnvVar(variable)


def s3_resource() -> S3Resource:
    """boto3 access for listings and small objects. Keys, when given, come from the environment
    through `EnvVar`, so the UI shows the variable's name, never its value."""
    credentials: dict[str, Any] = {}
    if settings.is_set("AWS_ACCESS_KEY_ID"):
        credentials = {
            "aws_access_key_id": dg.EnvVar("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
            "aws_session_token": from_environment("AWS_SESSION_TOKEN"),
        }
    return S3Resource(
        endpoint_url=from_environment("STEDI_S3_ENDPOINT"),
        region_name=from_environment(settings.aws_region_variable(), settings.DEFAULT_AWS_REGION),
        **credentials,
    )


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives and which consent policy governs what may leave landing."""

    root: str
    consent_policy: settings.ConsentPolicy = settings.ConsentPolicy.SINCE_CONSENT
    glue_database: str | None = None
    glue_endpoint: str | None = None
    aws_region: str = settings.DEFAULT_AWS_REGION
    earliest_time: str = plausibility.DEFAULT_EARLIEST_TIME
    """Readings and customer dates before this ISO date (UTC) are implausible."""
    max_future_hours: int = plausibility.DEFAULT_MAX_FUTURE_HOURS
    """Times more than this many hours after the run's start are implausible."""
    max_acceleration: float = plausibility.DEFAULT_MAX_ACCELERATION
    """Accelerometer values beyond ± this (the phone sensor's full scale, in g)."""
    max_distance: int = plausibility.DEFAULT_MAX_DISTANCE
    """Step-trainer distances above this, or below 0, are implausible."""
    erasure_salt: str | None = None
    """Salt of the erasure log's email hashes (a secret: `STEDI_ERASURE_SALT`)."""
    history_retention_hours: float = settings.DEFAULT_HISTORY_RETENTION_HOURS
    """How long replaced table versions stay readable before the vacuum deletes them."""
    full_refresh: bool = False
    """Rebuild every table even when nothing it is built from changed (`STEDI_FULL_REFRESH`)."""
    increment_min_rows: int = settings.DEFAULT_INCREMENT_MIN_ROWS
    """A changed table with fewer rows is rebuilt rather than incremented
    (`STEDI_INCREMENT_MIN_ROWS`)."""
    reading_increments_at_any_size: bool = False
    """A table of sensor readings with new landing files grows by an increment whatever its
    size (`settings.reading_increments_at_any_size`: on a warm Spark Connect server)."""

    @property
    def layout(self) -> LakeLayout:
        return LakeLayout(self.root)

    def increment_min_rows_for(self, landing_source: str | None, new_files: bool) -> int:
        """The rows below which the table built from `landing_source` (None: a curated table)
        is rebuilt rather than incremented when it changes; `new_files`: files of its own
        landing source were added (not only tables upstream changed)."""
        reading = landing_source in SENSOR_READING_SOURCES
        if self.reading_increments_at_any_size and reading and new_files:
            return 0
        return self.increment_min_rows

    def plausible_ranges(self) -> plausibility.PlausibleRanges:
        """The ranges outside which a value is quarantined, as of now."""
        return plausibility.PlausibleRanges.as_of(
            earliest_time=self.earliest_time,
            max_future_hours=self.max_future_hours,
            max_acceleration=self.max_acceleration,
            max_distance=self.max_distance,
        )

    def build_settings(self) -> dict[str, str]:
        """The settings a table's rows depend on, as `build_inputs.BuildInputs` records them
        (the salt only as a digest)."""
        return {
            "lake": self.layout.base_uri,
            "consent_policy": str(self.consent_policy),
            "earliest_time": self.earliest_time,
            "max_future_hours": str(self.max_future_hours),
            "max_acceleration": repr(float(self.max_acceleration)),
            "max_distance": str(self.max_distance),
            "erasure_salt": secret_digest(self.erasure_salt),
        }

    def catalog(self) -> GlueCatalog | None:
        """The Glue catalog tables are registered in, when `glue_database` is set."""
        if not self.glue_database:
            return None
        if not self.layout.is_s3:
            raise ValueError(
                f"STEDI_GLUE_DATABASE={self.glue_database} needs an s3:// STEDI_LAKE: Athena "
                f"cannot read {self.root}."
            )
        client = boto3.client("glue", region_name=self.aws_region, endpoint_url=self.glue_endpoint)
        return GlueCatalog(client, self.glue_database)


def lake_resource() -> LakeResource:
    """The lake as the environment sets it. Every setting is validated now, when the
    definitions load, so a wrong one fails naming its variable; text and whole-number fields
    set in the environment are `EnvVar`s (the UI shows the variable's name, never its value,
    and the erasure salt is a secret)."""
    parsed, plausible = settings.plausibility_overrides(), {}
    for variable, (option, kind) in settings.PLAUSIBILITY_VARIABLES.items():
        if option in parsed:  # EnvVar has no float kind: a float field gets its value
            plausible[option] = (
                parsed[option] if kind is float else from_environment(variable, integer=kind is int)
            )
    return LakeResource(
        root=from_environment("STEDI_LAKE", settings.DEFAULT_LAKE),
        consent_policy=settings.consent_policy(),
        glue_database=from_environment("STEDI_GLUE_DATABASE"),
        glue_endpoint=from_environment("STEDI_GLUE_ENDPOINT"),
        aws_region=from_environment(settings.aws_region_variable(), settings.DEFAULT_AWS_REGION),
        history_retention_hours=settings.history_retention_hours(),
        full_refresh=settings.full_refresh(),
        increment_min_rows=settings.increment_min_rows(),
        reading_increments_at_any_size=settings.reading_increments_at_any_size(),
        erasure_salt=from_environment("STEDI_ERASURE_SALT"),
        **plausible,
    )
