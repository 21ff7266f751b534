"""Spark SQL over the lake, for analysts without AWS: every table by its asset name.

    make sql Q="select count(*) from machine_learning_curated"
    stedi sql "select * from customer_quarantine"

Zone tables are read as Delta tables (`customer_trusted`, …, `customer_quarantine`, …); the
landing folders as JSON with the contract's schemas (`customer_landing`, …), unvalidated.

An analyst's session reads: a query runs as a subquery of a `SELECT`, where no statement that
writes can stand, and `SHOW`, `DESCRIBE` and `EXPLAIN` as they are. A statement that writes
(`INSERT`, `DELETE`, `MERGE`, `CREATE`, …) runs only when asked for (`stedi sql --write`).
"""

from __future__ import annotations

import sys

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LANDING_SOURCES, LakeLayout
from stedi_assets.tables.catalogue import QUARANTINE_TABLES, ZONE_TABLES


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


DESCRIBING = ("show", "describe", "desc", "explain")
"""Statements that only describe: they run as they are."""


class WritingQuery(ValueError):
    """A statement that would write, in a read-only session."""


def read_only(query: str) -> str:
    """`query` as a read-only session runs it: a statement that describes as it is; any other
    as a subquery of a `SELECT` (where a statement that writes is a syntax error)."""
    words = query.split(None, 1)
    first = words[0].lower() if words else ""
    if first in DESCRIBING:
        return query
    if first not in ("select", "with", "from", "values", "table") and not first.startswith("("):
        raise WritingQuery(
            f"`{words[0] if words else ''}` is not a query: the lake is opened read-only; "
            "add --write to run statements that change it"
        )
    return f"SELECT * FROM (\n{query.rstrip().rstrip(';')}\n) AS answer"


def run_query(spark: SparkSession, lake: LakeLayout, query: str, write: bool = False) -> DataFrame:
    """`query` over the lake's tables by name; read-only unless `write`."""
    statement = query if write else read_only(query)
    for name, frame in lake_views(spark, lake).items():
        frame.createOrReplaceTempView(name)
    return spark.sql(statement)
