"""The project's Spark: the settings a local Spark, a Spark Connect server or its clients get,
from `settings` in one place."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from stedi_assets import settings
from stedi_assets.storage import delta_tables
from stedi_assets.storage.hardening import (
    OWNER_ONLY,
    loopback_config,
    on_loopback_only,
    private_process,
)

SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    # The properties every table of the lake has (the change data feed, deletion vectors, no
    # column statistics in the log): the defaults of new tables; `delta_tables.overwrite` sets
    # them on older ones, and gives a table with a reading time its statistics of that time.
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
        # Delta copies a small table's file list into each commit's checksum, computed by a
        # Spark job after the commit (one per write, 12 of a new 1x lake's build); without it
        # a run on existing tables makes as many jobs as with it (`make profile`).
        "spark.databricks.delta.allFilesInCrc.enabled": "false",
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


CONNECT_CLIENT_LOGGER = "pyspark.sql.connect.logging"

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


def prepare_connect_client(remote: str, timeout_seconds: float = 5) -> None:
    """Before a session on the Spark Connect server at `remote`: fail at once, naming the
    endpoint, when nothing answers there (the client would otherwise retry for minutes); and
    keep the client's own logger quiet. PySpark's client logs every error the server answers
    with its stack, at ERROR, once Dagster's logging configuration has re-enabled that logger:
    a table not made yet is such an answer, and the code handles it or raises it, named."""
    logging.getLogger(CONNECT_CLIENT_LOGGER).disabled = True
    address = urlparse(remote.replace("sc://", "http://", 1))
    port = address.port or settings.DEFAULT_CONNECT_PORT
    try:
        socket.create_connection((address.hostname, port), timeout=timeout_seconds).close()
    except OSError as error:
        raise ConnectionError(
            f"No Spark Connect server answers at {remote} (STEDI_SPARK_REMOTE): {error}. "
            "Start one with `stedi connect-server`, or unset STEDI_SPARK_REMOTE to run locally."
        ) from None


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
        prepare_connect_client(config["spark.remote"])
    private_process()
    builder = SparkSession.builder
    for key, value in config.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "spark.remote" not in config:
        spark.sparkContext.setLogLevel("ERROR")
    return spark
