"""Baseline 2 of `make bench`: the data contract as a bare PySpark script.

The same transformations as the project (`stedi_assets.contract`) and the same Spark settings,
but no Dagster, no checks and plain Parquet instead of Delta: the difference in time between
this script and `dagster asset materialize` is what orchestration, checks and Delta cost.

    python benchmarks/bare_pyspark.py LAKE_ROOT OUT_DIR [--policy since_consent|any_time]
"""

from __future__ import annotations

import argparse
import time

from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.customers import (
    build_customer_trusted,
    build_customers_curated,
    current_customer_records,
    load_customers,
)
from stedi_assets.contract.landing import ACCELEROMETER, STEP_TRAINER, load_landing
from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.contract.readings import (
    build_accelerometer_trusted,
    build_machine_learning_curated,
    build_step_trainer_trusted,
)
from stedi_assets.lake import LakeLayout
from stedi_assets.resources import spark_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake_root")
    parser.add_argument("out_dir")
    parser.add_argument("--policy", default="since_consent", choices=["since_consent", "any_time"])
    args = parser.parse_args()
    started = time.perf_counter()
    builder = SparkSession.builder
    for key, value in spark_config().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    lake, since_consent = LakeLayout(args.lake_root), args.policy == "since_consent"

    def write(name: str, frame: DataFrame) -> DataFrame:
        path = f"{args.out_dir}/{name}"
        frame.write.mode("overwrite").parquet(path)
        return spark.read.parquet(path)

    ranges = PlausibleRanges.as_of()
    customers = load_customers(spark, lake.landing("customer"), ranges)
    build = build_customer_trusted(customers)
    write("customer_quarantine", build.quarantine)
    customer_trusted = write("customer_trusted", build.rows)

    readings = load_landing(spark, lake.landing("accelerometer"), ACCELEROMETER, ranges)
    build = build_accelerometer_trusted(readings, customer_trusted, since_consent)
    write("accelerometer_quarantine", build.quarantine)
    accelerometer_trusted = write("accelerometer_trusted", build.rows)
    curated = write(
        "customers_curated", build_customers_curated(customer_trusted, accelerometer_trusted)
    )

    devices = load_landing(spark, lake.landing("step_trainer"), STEP_TRAINER, ranges)
    current = current_customer_records(customers)
    build = build_step_trainer_trusted(devices, current, curated, since_consent)
    write("step_trainer_quarantine", build.quarantine)
    step_trainer_trusted = write("step_trainer_trusted", build.rows)
    write(
        "machine_learning_curated",
        build_machine_learning_curated(step_trainer_trusted, accelerometer_trusted, curated),
    )
    spark.stop()
    print(f"bare PySpark: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
