"""Spark SQL over the lake, for analysts without AWS: every table by its asset name.

    make sql Q="select count(*) from machine_learning_curated"
    stedi sql "select * from customer_quarantine"

Zone tables are read as Delta tables (`customer_trusted`, …, `customer_quarantine`, …); the
landing folders as JSON with the contract's schemas (`customer_landing`, …), unvalidated.
"""

from __future__ import annotations

import sys

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import LANDING_SOURCES, Lake
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
