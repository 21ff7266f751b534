"""Spark SQL over the lake, for analysts without AWS: every table by its asset name.

    make sql Q="select count(*) from machine_learning_curated"
    .venv/bin/python -m stedi_assets.catalog.sql "select * from customer_quarantine"

Zone tables are read as Delta tables (`customer_trusted`, …, `customer_quarantine`, …); the
landing folders as JSON with the contract's schemas (`customer_landing`, …), unvalidated.
"""

from __future__ import annotations

import argparse
import sys

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from stedi_assets import settings
from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import LANDING_SOURCES, Lake
from stedi_assets.resources import spark_config
from stedi_assets.zone_tables import ZONE_TABLES


def lake_views(spark: SparkSession, lake: Lake) -> dict[str, DataFrame]:
    """Every table of the lake that exists, by name."""
    delta_uris = {table.name: table.uri(lake) for table in ZONE_TABLES}
    delta_uris |= {f"{source}_quarantine": lake.quarantine(source) for source in LANDING_SOURCES}
    views = {
        name: spark.read.format("delta").load(uri)
        for name, uri in delta_uris.items()
        if DeltaTable.isDeltaTable(spark, uri)
    }
    for source in LANDING_SOURCES:
        try:
            views[f"{source}_landing"] = spark.read.schema(
                LANDING_SOURCES_BY_NAME[source].spark_schema
            ).json(lake.landing(source))
        except AnalysisException as error:  # no landing folder: leave the view out, say why
            print(f"{source}_landing: not available: {error.getCondition()}", file=sys.stderr)
    return views


def run_query(spark: SparkSession, lake: Lake, query: str) -> DataFrame:
    for name, frame in lake_views(spark, lake).items():
        frame.createOrReplaceTempView(name)
    return spark.sql(query)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stedi_assets.catalog.sql",
        description="Run Spark SQL over the lake at $STEDI_LAKE; tables go by asset name.",
    )
    parser.add_argument("query", help='e.g. "select count(*) from customer_trusted"')
    parser.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    args = parser.parse_args(argv)
    builder = SparkSession.builder
    for key, value in spark_config().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        run_query(spark, Lake(settings.lake_root()), args.query).show(args.limit, truncate=False)
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
