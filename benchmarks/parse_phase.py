"""Time the read and parse phase alone: every landing line of a lake read, parsed and counted.

For each source, `load_landing` (read, parse, cache), one count of its lines by kind, which
forces every line through the contract's parsing rules, and its quarantined lines with their
line numbers (what the quarantine table gets); then the cache is dropped. Prints
seconds per source and the total (the Spark session's start is not counted).

    python benchmarks/parse_phase.py LAKE

It imports `stedi_assets` from the Python path, so `PYTHONPATH=<another checkout>` times that
checkout's reader on the same files (how `benchmarks/results.md` compares before and after).
"""

from __future__ import annotations

import argparse
import time

import boto3
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract.accounting import quarantined_lines
from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME, load_landing
from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import landing_store
from stedi_assets.storage.spark import spark_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", help="lake root with <source>/landing folders")
    args = parser.parse_args()
    builder = SparkSession.builder
    for key, value in spark_config().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    lake, ranges = LakeLayout(args.lake), PlausibleRanges.as_of()
    store = landing_store(lake, s3_client_factory=lambda: boto3.client("s3"))
    total = 0.0
    for name, source in LANDING_SOURCES_BY_NAME.items():
        started = time.perf_counter()
        files = [lake.uri(file.key) for file in store.list_files(name)]
        parsed = load_landing(spark, files, source, ranges)
        kinds = parsed.groupBy(F.col("blank"), F.col("reason").isNull()).count().collect()
        quarantined = quarantined_lines(parsed).agg(F.max("line_number")).collect()
        seconds = time.perf_counter() - started
        parsed.unpersist()
        total += seconds
        lines = sum(row["count"] for row in kinds)
        print(
            f"{name}: {lines:,} lines in {seconds:.1f} s "
            f"(quarantined up to line {quarantined[0][0]})",
            flush=True,
        )
    print(f"total: {total:.1f} s")


if __name__ == "__main__":
    main()
