"""Every Delta Lake read and write of the project, and the one way it opens a table.

A table is opened by its URI (a folder or `s3a://`); the zone assets, erasure, the vacuum and
SQL over the lake all come through here, so a change to how tables are read or committed is
made once.
"""

from __future__ import annotations

import json

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


def overwrite(rows: DataFrame, uri: str, user_metadata: str | None = None) -> int:
    """Replace the table's rows (and schema) with `rows` in one commit; its version number.

    Readers keep the previous version until the commit lands; the previous versions stay in
    the table's history until the vacuum. `user_metadata` is recorded in the same commit
    (its `userMetadata`, which `latest_commit` reads back)."""
    writer = rows.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if user_metadata is not None:
        writer = writer.option("userMetadata", user_metadata)
    writer.save(uri)
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


def latest_commit(spark: SparkSession, uri: str) -> tuple[int, str | None] | None:
    """The latest version of the table and its commit's `userMetadata`, or None when there is
    no table at `uri` yet.

    In a classic session, opening the table brings Delta's log object in the driver's JVM up to
    date, and the commit's file is read from the log directly: no Spark job. `DESCRIBE
    HISTORY`, the way that works on a Spark Connect server too, runs one."""
    jvm_session = getattr(spark, "_jsparkSession", None)
    if jvm_session is None:
        return _latest_commit_from_history(spark, uri)
    if read_table_if_exists(spark, uri) is None:
        return None
    version = latest_version(spark, uri)
    jvm = spark._jvm  # type: ignore[attr-defined]
    commit = jvm.org.apache.hadoop.fs.Path(f"{uri}/_delta_log/{version:020d}.json")
    files = commit.getFileSystem(jvm_session.sessionState().newHadoopConf())
    stream = files.open(commit)
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    for line in text.splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            return version, action["commitInfo"].get("userMetadata")
    return version, None


def _latest_commit_from_history(spark: SparkSession, uri: str) -> tuple[int, str | None] | None:
    try:
        history = spark.sql(f"DESCRIBE HISTORY {_table(uri)} LIMIT 1")
        latest = history.select("version", "userMetadata").first()
    except AnalysisException as error:
        if error.getCondition() in (*_NO_TABLE, "DELTA_TABLE_ONLY_OPERATION"):
            return None
        raise
    return latest["version"], latest["userMetadata"]


def vacuum(spark: SparkSession, uri: str, retention_hours: float) -> None:
    """Delete the files of the table's versions older than `retention_hours`."""
    spark.sql(f"VACUUM {_table(uri)} RETAIN {retention_hours:f} HOURS").collect()
