"""Spark SQL over the lake, for analysts without AWS: every table by its asset name.

    make sql Q="select count(*) from machine_learning_curated"
    stedi sql "select * from customer_quarantine"

Zone tables are read as Delta tables (`customer_trusted`, …, `customer_quarantine`, …); the
landing folders as JSON with the contract's schemas (`customer_landing`, …), unvalidated.
"""

from __future__ import annotations

import sys

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from stedi_assets import delta_tables
from stedi_assets.catalogue import QUARANTINE_TABLES, ZONE_TABLES
from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import LANDING_SOURCES, LakeLayout


def lake_views(spark: SparkSession, lake: LakeLayout) -> dict[str, DataFrame]:
    """Every table of the lake that exists, by name."""
    views = {}
    for table in (*ZONE_TABLES, *QUARANTINE_TABLES):
        rows = delta_tables.read_table_if_exists(spark, table.uri(lake))
        if rows is not None:
            views[table.name] = rows
    for source in LANDING_SOURCES:
        try:
            views[f"{source}_landing"] = spark.read.schema(
                LANDING_SOURCES_BY_NAME[source].spark_schema
            ).json(lake.landing(source))
        except AnalysisException as error:  # no landing folder: leave the view out, say why
            print(f"{source}_landing: not available: {error.getCondition()}", file=sys.stderr)
    return views


def run_query(spark: SparkSession, lake: LakeLayout, query: str) -> DataFrame:
    for name, frame in lake_views(spark, lake).items():
        frame.createOrReplaceTempView(name)
    return spark.sql(query)
