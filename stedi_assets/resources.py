"""Resources: the Spark session and the lake, configured from `settings` in one place."""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

import boto3
import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_pyspark import PySparkResource
from pyspark.sql import SparkSession

from stedi_assets import delta_tables, settings
from stedi_assets.build_inputs import secret_digest
from stedi_assets.catalog.glue import GlueCatalog
from stedi_assets.contract import plausibility
from stedi_assets.hardening import OWNER_ONLY, loopback_config, on_loopback_only, private_process
from stedi_assets.lake import LakeLayout

SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    # The properties every table of the lake has (the change data feed, deletion vectors, no
    # column statistics in the log): the defaults of new tables; `delta_tables.overwrite` sets
    # them on older ones.
    **{
        f"spark.databricks.delta.properties.defaults.{name}": value
        for name, value in delta_tables.TABLE_PROPERTIES.items()
    },
}
"""Settings the results depend on: set on every session, local or remote."""


def spark_config() -> dict[str, Any]:
    """Spark settings for this project; each can be overridden through `settings`.

    With `STEDI_SPARK_REMOTE` the session is a Spark Connect client of that server (which has
    the jars, Delta's extensions and the memory; see `connect_server_command`) and only
    session settings are sent. Otherwise a local Spark is started: the Delta Lake and s3a jars
    come from the cache `make setup` fills, through the class path, so a run never downloads
    anything.
    """
    remote = settings.spark_remote()
    if remote:
        return {
            "spark.remote": remote,
            "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions()),
            **SESSION_SETTINGS,
            **settings.spark_overrides(),
        }
    return {
        "spark.master": settings.spark_master(),
        "spark.app.name": "stedi-lakehouse",
        "spark.driver.memory": settings.spark_driver_memory(),
        **server_config(),
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions()),
        "spark.ui.showConsoleProgress": "false",
        **settings.spark_overrides(),
    }


def server_config() -> dict[str, str]:
    """What a Spark that runs the project's work needs, local or a Spark Connect server: the
    jars, Delta's extensions and catalog, s3a and the session settings."""
    jars = sorted(settings.jars_dir().glob("*.jar"))
    if not any(jar.name.startswith("delta-spark") for jar in jars):
        raise RuntimeError(
            f"No Delta Lake jar in {settings.jars_dir()}: run `make setup` "
            "(or point STEDI_JARS_DIR at the folder holding the jars of jvm/pom.xml)."
        )
    class_path = ":".join(str(jar) for jar in jars)
    return {
        "spark.driver.extraClassPath": class_path,
        "spark.executor.extraClassPath": class_path,
        **loopback_config(),
        # Hadoop sets each file's permissions itself: its umask, not the process's, decides.
        "spark.hadoop.fs.permissions.umask-mode": f"{OWNER_ONLY:03o}",
        # Delta's default of 50 partitions for replaying a table's log suits huge logs; ours
        # are a few versions long, so one task per core is faster.
        "spark.databricks.delta.snapshotPartitions": str(os.cpu_count() or 1),
        # Adaptive execution re-plans each shuffle query stage by stage, one Spark job per
        # stage: 144 jobs for a 1x run against 88 without, in the same seconds (`make
        # profile`). Its gains (coalescing partitions, switching joins) need many partitions
        # and large joins; `STEDI_SPARK_CONF` turns it back on for a cluster.
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        **SESSION_SETTINGS,
        **_s3a_config(),
    }


CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def connect_server_command(
    port: int = settings.DEFAULT_CONNECT_PORT,
) -> tuple[list[str], dict[str, str]]:
    """The command (and the environment it needs) that starts a Spark Connect server on
    loopback with everything a run needs: the project's jars, Delta's extensions, s3a, the
    session settings, `STEDI_SPARK_MASTER` and `STEDI_SPARK_DRIVER_MEMORY`. PySpark ships the
    server (`spark-connect` is among its jars)."""
    import pyspark

    spark_home = os.path.dirname(pyspark.__file__)
    config = {
        **server_config(),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        # A server lives through many runs: keep the status of only the latest jobs and
        # queries (Spark keeps 1,000 of each; a run makes about 80), so its memory stays flat.
        "spark.ui.retainedJobs": "200",
        "spark.ui.retainedStages": "200",
        "spark.sql.ui.retainedExecutions": "100",
        "spark.connect.ui.retainedSessions": "20",
        "spark.connect.ui.retainedStatements": "100",
        **settings.spark_overrides(),
    }
    command = [
        os.path.join(spark_home, "bin", "spark-submit"),
        "--class", CONNECT_SERVER_CLASS,
        "--name", "stedi-connect-server",
        "--master", settings.spark_master(),
        "--driver-memory", settings.spark_driver_memory(),
        "--driver-class-path", config.pop("spark.driver.extraClassPath"),
        *(item for key, value in config.items() for item in ("--conf", f"{key}={value}")),
        "spark-internal",
    ]  # fmt: skip
    return command, {"SPARK_HOME": spark_home, **on_loopback_only()}


def require_reachable(remote: str, timeout_seconds: float = 5) -> None:
    """Fail at once, naming the endpoint, when nothing answers at a Spark Connect URL (the
    client would otherwise retry for minutes)."""
    address = urlparse(remote.replace("sc://", "http://", 1))
    port = address.port or settings.DEFAULT_CONNECT_PORT
    try:
        socket.create_connection((address.hostname, port), timeout=timeout_seconds).close()
    except OSError as error:
        raise ConnectionError(
            f"No Spark Connect server answers at {remote} (STEDI_SPARK_REMOTE): {error}. "
            "Start one with `stedi connect-server`, or unset STEDI_SPARK_REMOTE to run locally."
        ) from None


class SparkResource(PySparkResource):
    """The run's SparkSession (`dagster_pyspark`'s resource), checking first that a Spark
    Connect endpoint answers, when one is configured, and releasing the run's session on the
    server when the run ends (what it cached and analysed goes with it, so a server that
    serves run after run does not grow)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        remote = self.spark_config.get("spark.remote")
        if remote:
            require_reachable(remote)
        private_process()
        super().setup_for_execution(context)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self.spark_config.get("spark.remote"):
            self.spark_session.stop()


def _s3a_config() -> dict[str, str]:
    """Spark's s3a connector, set from the same settings as the S3 resource.

    Credentials are deliberately absent: s3a's default provider chain reads them from the
    environment (or the instance profile), so they never appear in Spark or Dagster config.
    """
    config = {
        "spark.hadoop.fs.s3a.endpoint.region": settings.aws_region(),
        # Transient errors are retried, with a bound: an unreachable S3 fails the run within
        # about a minute instead of hanging it for many (s3a's defaults retry for minutes).
        "spark.hadoop.fs.s3a.attempts.maximum": "3",
        "spark.hadoop.fs.s3a.retry.limit": "3",
        "spark.hadoop.fs.s3a.retry.interval": "500ms",
        "spark.hadoop.fs.s3a.connection.establish.timeout": "5s",
        # Delta's single-driver log store: runs never overlap (dagster.yaml's run queue).
        "spark.delta.logStore.s3a.impl": "io.delta.storage.S3SingleDriverLogStore",
    }
    endpoint = settings.s3_endpoint()
    if endpoint:
        config |= {
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
        }
    return config


def local_spark_session() -> SparkSession:
    """A SparkSession with the project's settings, for commands outside a Dagster run (a
    Spark Connect session when `STEDI_SPARK_REMOTE` is set)."""
    config = spark_config()
    if "spark.remote" in config:
        require_reachable(config["spark.remote"])
    private_process()
    builder = SparkSession.builder
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "spark.remote" not in config:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


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

    @property
    def layout(self) -> LakeLayout:
        return LakeLayout(self.root)

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
        erasure_salt=from_environment("STEDI_ERASURE_SALT"),
        **plausible,
    )
