"""Several whole-DataFrame aggregates answered by one Spark job.

Each Spark action is a job, and on a small lake a run's time goes more to the number of jobs than
to the rows. A table's checks and metadata each need one aggregate over its rows or over rows
derived from them; asking them one by one costs a job each. Put in a union, they run as the
stages of one job (a cross join of their single rows would broadcast one of them, a job of its
own). With adaptive execution off, as the project runs locally; a broadcast join inside the
rows' plans is still a job of its own, as it would be for each aggregate asked alone.

On Spark Connect the server analyses each query's plan afresh, and the union holds the plans of
all the parts: there it saves jobs but not seconds (`benchmarks/results.md`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F


def aggregate_in_one_job(*aggregates: tuple[DataFrame, Sequence[Column]]) -> list[Row]:
    """For each `(rows, columns)`, the values of the aggregate `columns` over `rows` (a `Row`
    with one field per column, in order), computed by one Spark job (and the jobs of any
    broadcast in the rows' plans).

    An aggregate with no grouping gives exactly one row, so each part of the union holds one
    non-null struct, in its own column; the other parts' columns are typed nulls there."""
    if not aggregates:
        raise ValueError("aggregate_in_one_job needs at least one (rows, columns) pair")
    parts = [rows.agg(F.struct(*columns).alias("values")) for rows, columns in aggregates]
    types = [part.schema["values"].dataType for part in parts]
    sides = [
        part.select(
            *(
                (F.col("values") if other == index else F.lit(None).cast(value_type)).alias(
                    f"part_{other}"
                )
                for other, value_type in enumerate(types)
            )
        )
        for index, part in enumerate(parts)
    ]
    answers = reduce(DataFrame.unionByName, sides).collect()
    return [
        next(row[f"part_{index}"] for row in answers if row[f"part_{index}"] is not None)
        for index in range(len(parts))
    ]
