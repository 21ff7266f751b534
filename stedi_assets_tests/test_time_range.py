"""The reading tables keep each file's range of reading times in their Delta log, and nothing
else of a row; an increment reads only the earlier readings within its new readings' times, so
readings that arrive in time order read no file of the history."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from stedi_assets.builds.time_range import at_times_of
from stedi_assets.storage import delta_tables


def readings(spark: SparkSession, times: range, user: str = "ann@example.com") -> DataFrame:
    return spark.createDataFrame(
        [(user, time, 0.5) for time in times], "user string, timestamp long, x double"
    )


def file_statistics(uri: str) -> list[dict]:
    """The statistics of every file the table's log added."""
    found = []
    for commit in sorted((Path(uri) / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                found.append(json.loads(action["add"]["stats"]))
    return found


def test_a_reading_tables_log_keeps_each_files_time_range_and_no_personal_value(
    spark: SparkSession, tmp_path: Path
) -> None:
    uri = str(tmp_path / "phone_readings")
    delta_tables.overwrite(readings(spark, range(100, 200)).coalesce(1), uri, "the build")
    delta_tables.append(readings(spark, range(300, 310), "bob@example.com").coalesce(1), uri)

    stats = file_statistics(uri)
    assert [(s["minValues"], s["maxValues"]) for s in stats] == [
        ({"timestamp": 100}, {"timestamp": 199}),
        ({"timestamp": 300}, {"timestamp": 309}),
    ]
    log = "".join(p.read_text() for p in (Path(uri) / "_delta_log").glob("*.json"))
    assert "example.com" not in log


def test_a_table_without_a_reading_time_keeps_no_statistics(
    spark: SparkSession, tmp_path: Path
) -> None:
    uri = str(tmp_path / "customers")
    emails = spark.createDataFrame([("ann@example.com", 5)], "email string, lastUpdateDate long")
    delta_tables.overwrite(emails, uri, "the build")
    (stats,) = file_statistics(uri)
    assert stats == {"numRecords": 1}


def test_a_reading_table_made_before_gets_time_statistics_at_its_next_full_build(
    spark: SparkSession, tmp_path: Path
) -> None:
    uri = str(tmp_path / "made_before")
    spark.sql(
        f"CREATE TABLE delta.`{uri}` (user STRING, timestamp BIGINT, x DOUBLE) USING delta "
        "TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '0')"
    )
    delta_tables.overwrite(readings(spark, range(10, 20)).coalesce(1), uri, "the build")
    assert file_statistics(uri)[-1]["minValues"] == {"timestamp": 10}


def test_new_readings_after_the_history_read_none_of_its_files(
    spark: SparkSession, tmp_path: Path
) -> None:
    uri = str(tmp_path / "parsed")
    delta_tables.overwrite(readings(spark, range(0, 1000)).repartition(4), uri, "the build")
    delta_tables.append(readings(spark, range(2000, 2010)).coalesce(1), uri, "an increment")
    history = delta_tables.read_table(spark, uri)
    (latest_file,) = [
        name for name in history.inputFiles() if name not in _files_of_version(spark, uri, 0)
    ]

    later = at_times_of(history, "timestamp", readings(spark, range(2005, 2030)), "timestamp")
    assert later.inputFiles() == [latest_file]
    assert sorted(row["timestamp"] for row in later.collect()) == list(range(2005, 2010))

    within = at_times_of(history, "timestamp", readings(spark, range(500, 501)), "timestamp")
    assert [row["timestamp"] for row in within.collect()] == [500]
    assert latest_file not in within.inputFiles()

    nothing = at_times_of(history, "timestamp", readings(spark, range(0)), "timestamp")
    assert nothing.count() == 0


def _files_of_version(spark: SparkSession, uri: str, version: int) -> list[str]:
    return delta_tables.read_version(spark, uri, version).inputFiles()
