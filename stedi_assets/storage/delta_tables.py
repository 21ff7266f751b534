"""Every Delta Lake read and write of the project, and the one way it opens a table.

A table is opened by its URI (a folder or `s3a://`); the zone assets, erasure, the vacuum and
SQL over the lake all come through here, so a change to how tables are read or committed is
made once.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator, Sequence

from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.storage import delta_log
from stedi_assets.storage.delta_log import Commit

_NO_TABLE = ("PATH_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE")


def read_table(spark: SparkSession, uri: str) -> DataFrame:
    """The table's latest committed version."""
    return spark.read.format("delta").load(uri)


def read_version(spark: SparkSession, uri: str, version: int | None = None) -> DataFrame:
    """One version of the table (by default the latest now), fixed: a plan that reads it gives
    the same rows after a later commit to the table. Spark recomputes a cached plan that reads
    a table it writes to, so a build that reads a table and then appends to it reads it so."""
    if version is None:
        version = latest_version(spark, uri)
    return spark.read.format("delta").option("versionAsOf", version).load(uri)


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


TABLE_PROPERTIES = {
    "enableChangeDataFeed": "true",
    "enableDeletionVectors": "false",
    "dataSkippingNumIndexedCols": "0",
}
"""Delta table properties (`delta.<name>`) every table of the lake has: its commits record the
rows they changed (a table that reads another reads what changed since, `docs/incremental.md`);
rows a change removes are rewritten out of their files, never marked deleted (deletion vectors
are a reader feature that `deltalake`, and so pandas' and polars' Delta readers, cannot read);
and no column statistics go into the log but a reading's time (`STATS_COLUMNS`): others would
copy personal values, an email's min and max, into log files that outlive an erasure's vacuum.
Sessions give them to new tables (`storage.spark.SESSION_SETTINGS`); `with_table_properties` to
older ones."""

STATS_COLUMNS = ("timestamp", "sensorReadingTime")
"""The columns whose range in each file the log does keep, in a table that has one: a reading's
time, which names no one. An increment reads the readings before it within the times of the
new ones, and Delta skips the files whose range lies outside (`docs/incremental.md`)."""

READER_FEATURES_DROPPED = ("deletionVectors",)
"""Table features a table made before may have that the lake's readers cannot read: dropped
(Delta rewrites the files that use them and keeps its log readable by older readers)."""


def table_properties(columns: Sequence[str]) -> dict[str, str]:
    """The Delta properties of a table of `columns`: `TABLE_PROPERTIES`, and statistics on
    its `STATS_COLUMNS` alone."""
    stats = [name for name in STATS_COLUMNS if name in columns]
    if not stats:
        return TABLE_PROPERTIES
    return {**TABLE_PROPERTIES, "dataSkippingStatsColumns": ",".join(stats)}


def with_table_properties(spark: SparkSession, uri: str, columns: Sequence[str]) -> bool:
    """Give a table made before the lake set one of its `table_properties` (for `columns`)
    the ones it lacks, and drop the reader features it has that every reader cannot read:
    Delta's session defaults reach new tables only. Done before a full build replaces the
    rows, so that build's commit stays the table's latest (increments read the changes after
    it) and writes its files with the statistics the lake keeps. Whether there is a table at
    `uri` (none yet: nothing to do)."""
    try:
        found = spark.sql(f"SHOW TBLPROPERTIES {_table(uri)}").collect()
    except AnalysisException as error:
        if error.getCondition() in _NO_TABLE:
            return False
        raise
    properties = {row["key"]: row["value"] for row in found}
    missing = [
        f"'delta.{name}' = '{value}'"
        for name, value in table_properties(columns).items()
        if properties.get(f"delta.{name}") != value
    ]
    if missing:
        spark.sql(f"ALTER TABLE {_table(uri)} SET TBLPROPERTIES ({', '.join(missing)})").collect()
    for feature in READER_FEATURES_DROPPED:
        if properties.get(f"delta.feature.{feature}") == "supported":
            spark.sql(f"ALTER TABLE {_table(uri)} DROP FEATURE {feature}").collect()
    return True


def overwrite(
    rows: DataFrame, uri: str, user_metadata: str | None = None, empty: bool = False
) -> int:
    """Replace the table's rows (and schema) with `rows` in one commit; its version number.

    Readers keep the previous version until the commit lands; the previous versions stay in
    the table's history until the vacuum. `user_metadata` is recorded in the same commit
    (its `userMetadata`, which `latest_commit` reads back). Delta makes no commit when an
    `empty` `rows` replaces a table that has no rows either: then the commit is one that
    changes no data, so the metadata is still the latest. A table made before the lake's
    `TABLE_PROPERTIES` gets them first.

    A table's first commit is an append: an overwrite first lists the files it replaces, a
    Spark job even where there is no table, and the one job of the append is all a new table
    costs (`make profile`)."""
    spark = rows.sparkSession
    exists = with_table_properties(spark, uri, rows.columns)
    before = latest_commit(spark, uri) if empty else None
    writer = rows.write.format("delta")
    if exists:
        writer = writer.mode("overwrite").option("overwriteSchema", "true")
    else:  # the session's defaults give it TABLE_PROPERTIES; its statistics are its own
        writer = writer.mode("append")
        for name, value in table_properties(rows.columns).items():
            writer = writer.option(f"delta.{name}", value)
    if user_metadata is not None:
        writer = writer.option("userMetadata", user_metadata)
    writer.save(uri)
    version = latest_version(spark, uri)
    if before is not None and version == before[0]:
        return _commit_without_data(spark, uri, user_metadata or "")
    return version


def replace_rows(rows: DataFrame, uri: str) -> None:
    """Replace the table's rows with `rows`, which may be read from the table itself: Delta
    reads the version it started from."""
    rows.write.format("delta").mode("overwrite").save(uri)


def append(
    rows: DataFrame,
    uri: str,
    user_metadata: str | None = None,
    empty: bool = False,
    schema_may_grow: bool = False,
) -> int:
    """Add `rows` to the table in one commit (`user_metadata` recorded in it); its version.

    Delta makes no commit for an append of no rows, so when the caller knows `rows` is `empty`
    the commit is one that changes no data (a table property: the digest of `user_metadata`),
    and the metadata is still recorded. With `schema_may_grow`, columns `rows` has and the
    table lacks are added to it (its earlier rows hold null there)."""
    if empty:
        return _commit_without_data(rows.sparkSession, uri, user_metadata or "")
    writer = rows.write.format("delta").mode("append")
    if schema_may_grow:
        writer = writer.option("mergeSchema", "true")
    if user_metadata is not None:
        writer = writer.option("userMetadata", user_metadata)
    writer.save(uri)
    return latest_version(rows.sparkSession, uri)


_COMMIT_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


@contextlib.contextmanager
def _commit_metadata(spark: SparkSession, user_metadata: str) -> Iterator[None]:
    """Commits made by SQL inside carry `user_metadata` (Delta's `userMetadata`)."""
    spark.conf.set(_COMMIT_USER_METADATA, user_metadata)
    try:
        yield
    finally:
        spark.conf.unset(_COMMIT_USER_METADATA)


def _commit_without_data(spark: SparkSession, uri: str, user_metadata: str) -> int:
    digest = hashlib.sha256(user_metadata.encode()).hexdigest()
    with _commit_metadata(spark, user_metadata):
        spark.sql(
            f"ALTER TABLE {_table(uri)} SET TBLPROPERTIES ('stedi.last_commit' = '{digest}')"
        ).collect()
    return latest_version(spark, uri)


def _latest_user_metadata(spark: SparkSession, uri: str) -> str:
    latest = latest_commit(spark, uri)
    return (latest[1] if latest else None) or ""


def _table(uri: str) -> str:
    """The table at `uri` in Delta's SQL: its commands run wherever the session's Spark runs
    (in this process, or on a Spark Connect server), where the JVM `DeltaTable` API does not."""
    return "delta.`" + uri.replace("`", "``") + "`"


def latest_version(spark: SparkSession, uri: str) -> int:
    """The table's latest version, as this session's Spark knows it.

    In a classic session (local or on a cluster) Delta's log object in the driver's JVM
    already holds the snapshot of the commit just made, so asking it costs no Spark job; a
    Spark Connect client reads a table on this machine's disk from its log's files, and asks
    the server (`DESCRIBE HISTORY`, a Spark job) for one in object storage."""
    jvm_session = getattr(spark, "_jsparkSession", None)
    if jvm_session is not None:
        logs = spark._jvm.org.apache.spark.sql.delta.DeltaLog  # type: ignore[attr-defined]
        return logs.forTable(jvm_session, uri).unsafeVolatileSnapshot().version()
    latest = latest_commit(spark, uri)
    if latest is None:
        raise FileNotFoundError(f"No Delta table at {uri}")
    return latest[0]


def latest_commit(spark: SparkSession, uri: str) -> tuple[int, str | None] | None:
    """The latest version of the table and its commit's `userMetadata`, or None when there is
    no table at `uri` yet.

    In a classic session, opening the table brings Delta's log object in the driver's JVM up to
    date, and the commit's file is read from the log directly: no Spark job. A Spark Connect
    client reads a table on this machine's disk from its log's files (no Spark job, no round
    trip: an increment's plan asks this of every table it reads), and asks the server
    (`DESCRIBE HISTORY`, one job) for one in object storage."""
    jvm_session = getattr(spark, "_jsparkSession", None)
    if jvm_session is None:
        local = delta_log.on_local_disk(uri)
        if local is None:
            return _latest_commit_from_history(spark, uri)
        commit = delta_log.latest_commit(*local)
        return (commit.version, commit.user_metadata) if commit else None
    if read_table_if_exists(spark, uri) is None:
        return None
    version = latest_version(spark, uri)
    commit = _commit_from_log(spark, uri, version)
    return version, commit.user_metadata


def commits_since(spark: SparkSession, uri: str, after: int, upto: int) -> list[Commit] | None:
    """The commits after version `after` up to `upto`, oldest first; None when the log no
    longer holds them all (Delta cleans up log files older than its log retention)."""
    if upto <= after:
        return []
    try:
        if getattr(spark, "_jsparkSession", None) is not None:
            return [_commit_from_log(spark, uri, v) for v in range(after + 1, upto + 1)]
        if (local := delta_log.on_local_disk(uri)) is not None:
            return delta_log.commits_between(*local, after, upto)
        history = spark.sql(f"DESCRIBE HISTORY {_table(uri)}").where(
            f"version > {after} AND version <= {upto}"
        )
        found = [
            Commit(row["version"], row["operation"], row["userMetadata"])
            for row in history.select("version", "operation", "userMetadata").collect()
        ]
    except (AnalysisException, Py4JJavaError):  # a log file cleaned up
        return None
    found.sort(key=lambda commit: commit.version)
    return found if len(found) == upto - after else None


def _commit_from_log(spark: SparkSession, uri: str, version: int) -> Commit:
    """A commit read from the table's log file in a classic session (no Spark job)."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    jvm_session = spark._jsparkSession  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(f"{uri}/_delta_log/{version:020d}.json")
    files = path.getFileSystem(jvm_session.sessionState().newHadoopConf())
    stream = files.open(path)
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    return delta_log.commit_of(text, version)


def changes(spark: SparkSession, uri: str, after: int, upto: int) -> DataFrame:
    """The rows the commits after version `after` up to `upto` inserted and deleted, from
    Delta's change data feed (on for every table of the lake, `storage.spark.SESSION_SETTINGS`):
    the table's columns and `_change_type` (`insert`, `delete`; MERGE updates are not used)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after + 1)
        .option("endingVersion", upto)
        .load(uri)
    )


_REMOVE = "_stedi_remove"


def merge(
    rows: DataFrame,
    uri: str,
    key: Sequence[str],
    removed_keys: DataFrame,
    user_metadata: str,
) -> int:
    """In one commit, remove every row whose `key` columns equal a row of `removed_keys` and
    add `rows`; the new version. A `MERGE`, so readers see the table before or after, and
    the keys travel as data, never as literals in the commit's recorded predicate (a log
    outlives a vacuum). The files that held removed rows are rewritten without them."""
    spark = rows.sparkSession
    columns = rows.columns
    removals = removed_keys.select(
        *(
            F.col(f"`{name}`")
            if name in key
            else F.lit(None).cast(rows.schema[name].dataType).alias(name)
            for name in columns
        )
    ).withColumn(_REMOVE, F.lit(True))
    source = rows.withColumn(_REMOVE, F.lit(False)).unionByName(removals)
    view = f"stedi_merge_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    matched = " AND ".join(f"t.`{name}` <=> s.`{name}`" for name in key)
    quoted = ", ".join(f"`{name}`" for name in columns)
    values = ", ".join(f"s.`{name}`" for name in columns)
    statement = (
        f"MERGE INTO {_table(uri)} AS t USING {view} AS s "
        f"ON s.{_REMOVE} AND {matched} "
        "WHEN MATCHED THEN DELETE "
        f"WHEN NOT MATCHED AND NOT s.{_REMOVE} THEN INSERT ({quoted}) VALUES ({values})"
    )
    try:
        with _commit_metadata(spark, user_metadata):
            spark.sql(statement).collect()
    finally:
        spark.catalog.dropTempView(view)
    return latest_version(spark, uri)


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
    """Delete the files of the table's versions older than `retention_hours`. The vacuum is
    logged in the table's history (commits that change no row, carrying the latest commit's
    metadata), so a reader of the table's changes knows that earlier versions may be gone."""
    with _commit_metadata(spark, _latest_user_metadata(spark, uri)):
        spark.sql(f"VACUUM {_table(uri)} RETAIN {retention_hours:f} HOURS").collect()
