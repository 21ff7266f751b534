"""Every Delta Lake read and write of the project, and the one way it opens a table.

A table is opened by its URI (a folder or `s3a://`); the zone assets, erasure, the vacuum and
SQL over the lake all come through here, so a change to how tables are read or committed is
made once.
"""

from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

_NO_TABLE = ("PATH_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE")


def read_table(spark: SparkSession, uri: str) -> DataFrame:
    """The table's latest committed version."""
    return spark.read.format("delta").load(uri)


def read_table_if_exists(spark: SparkSession, uri: str) -> DataFrame | None:
    """The table's latest version, or None when there is no table at `uri` yet."""
    try:
        rows = read_table(spark, uri)
        rows.schema  # noqa: B018 - Spark Connect resolves a read only when asked
        return rows
    except AnalysisException as error:
        if error.getCondition() in _NO_TABLE:
            return None
        raise


def overwrite(rows: DataFrame, uri: str) -> int:
    """Replace the table's rows (and schema) with `rows` in one commit; its version number.

    Readers keep the previous version until the commit lands; the previous versions stay in
    the table's history until the vacuum."""
    rows.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(uri)
    return latest_version(rows.sparkSession, uri)


def replace_rows(rows: DataFrame, uri: str) -> None:
    """Replace the table's rows with `rows`, which may be read from the table itself: Delta
    reads the version it started from."""
    rows.write.format("delta").mode("overwrite").save(uri)


def append(rows: DataFrame, uri: str) -> None:
    rows.write.format("delta").mode("append").save(uri)


def _table(uri: str) -> str:
    """The table at `uri` in Delta's SQL: its commands run wherever the session's Spark runs
    (in this process, or on a Spark Connect server), where the JVM `DeltaTable` API does not."""
    return "delta.`" + uri.replace("`", "``") + "`"


def latest_version(spark: SparkSession, uri: str) -> int:
    """The table's latest version, as this session's Spark knows it.

    In a classic session (local or on a cluster) Delta's log object in the driver's JVM
    already holds the snapshot of the commit just made, so asking it costs no Spark job;
    `DESCRIBE HISTORY`, the way that works on a Spark Connect server too, runs one job per
    table (8 of a run's jobs)."""
    jvm_session = getattr(spark, "_jsparkSession", None)
    if jvm_session is not None:
        delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog  # type: ignore[attr-defined]
        return delta_log.forTable(jvm_session, uri).unsafeVolatileSnapshot().version()
    return spark.sql(f"DESCRIBE HISTORY {_table(uri)} LIMIT 1").first()["version"]


def vacuum(spark: SparkSession, uri: str, retention_hours: float) -> None:
    """Delete the files of the table's versions older than `retention_hours`."""
    spark.sql(f"VACUUM {_table(uri)} RETAIN {retention_hours:f} HOURS").collect()
