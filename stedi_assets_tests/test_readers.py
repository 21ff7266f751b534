"""The lake's tables open with the readers analysts and data scientists use outside Spark:
`deltalake` (delta-rs, what pandas and polars read Delta through) and DuckDB's Delta extension,
after a full build, after an increment that removes rows, and after an erasure and a vacuum;
each gives exactly Spark's rows."""

from collections import Counter
from pathlib import Path

import duckdb
import duckdb_extension_delta
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from stedi_assets_tests.erased_lake import ALL_TABLES, SALT, erase, serial_carriers
from stedi_assets_tests.lakes import lake_with, materialize_lake
from stedi_assets_tests.test_build_records import write_lines

DUCKDB_DELTA = next(Path(duckdb_extension_delta.__file__).parent.glob("extensions/*/delta.*"))
"""The extension as its PyPI package ships it (DuckDB would otherwise download it)."""


def spark_rows(spark: SparkSession, uri: Path) -> Counter:
    return Counter(tuple(row) for row in spark.read.format("delta").load(str(uri)).collect())


def deltalake_rows(uri: Path, columns: list[str]) -> Counter:
    table = DeltaTable(str(uri)).to_pyarrow_table(columns=columns)
    return Counter(tuple(row[name] for name in columns) for row in table.to_pylist())


def duckdb_rows(uri: Path, columns: list[str]) -> Counter:
    with duckdb.connect() as con:
        con.execute(f"LOAD '{DUCKDB_DELTA}'")
        quoted = ", ".join(f'"{name}"' for name in columns)
        rows = con.execute(f"SELECT {quoted} FROM delta_scan(?)", [str(uri)]).fetchall()
    return Counter(rows)


def assert_every_table_reads_the_same(spark: SparkSession, lake: Path) -> None:
    for path in ALL_TABLES:
        uri = lake / path
        columns = spark.read.format("delta").load(str(uri)).columns
        expected = spark_rows(spark, uri)
        assert deltalake_rows(uri, columns) == expected, path
        assert duckdb_rows(uri, columns) == expected, path
        assert DeltaTable(str(uri)).protocol().reader_features is None, path


@pytest.fixture
def lake(tmp_path: Path, generated_landing: Path) -> Path:
    return lake_with(generated_landing, tmp_path / "lake")


@pytest.mark.slow
def test_every_table_opens_with_deltalake_and_duckdb_as_spark_reads_it(
    spark: SparkSession, lake: Path
) -> None:
    assert materialize_lake(lake, spark, erasure_salt=SALT).success
    assert_every_table_reads_the_same(spark, lake)

    # An increment that removes rows: a new customer file, some curated customers withdrawing.
    curated = spark.read.format("delta").load(str(lake / "customer/curated")).limit(5)
    withdrawn = [
        {
            **row.asDict(),
            "lastUpdateDate": row["lastUpdateDate"] + 1,
            "shareWithResearchAsOfDate": None,
        }
        for row in curated.collect()
    ]
    write_lines(lake / "customer/landing/withdrawals.json", withdrawn)
    result = materialize_lake(lake, spark, erasure_salt=SALT)
    assert result.success
    (readings,) = result.asset_materializations_for_node("accelerometer_trusted")
    assert readings.metadata["rows_removed"].value > 0  # an increment, which removed rows
    assert_every_table_reads_the_same(spark, lake)

    # An erasure, vacuumed at once.
    carriers = serial_carriers(lake)
    email = next(min(emails) for emails in carriers.values() if len(emails) == 1)
    assert erase(lake, email, vacuum_now=True).success
    assert_every_table_reads_the_same(spark, lake)
