"""Baseline 2 of `make bench`: the STEDI contract as a plain PySpark script, written on its own.

What a data engineer would write without the project: no Dagster, no checks, no Delta, no line
numbers, nothing imported from `stedi_assets` (it shares no code with the project on purpose,
like the DuckDB baseline). Each landing folder is read once as text and parsed with `from_json`
against an explicit schema, cached for its quarantine and its table; each table is one query
written as Parquet, and the customers' current records are cached for the two tables that use
them. Spark's defaults otherwise (adaptive execution and the UI on), with the project's driver
memory and shuffle partitions. The difference in time between this and
`dg launch` is what the project's checks, accounting, quarantine line numbers,
metadata, Delta and orchestration cost.

Where it departs from the contract: Spark's JSON reader turns a number, a boolean, an array or
an object into the text of a string field, keeps one of duplicate keys and ignores what follows
the object on its line (`{...},`), where the contract quarantines such lines (a few in ten
thousand of the generated lines); Spark's line reader also ends a line at a lone carriage
return, which the contract reads as white space; its quarantine rows name the file but not the
line. `make bench` counts how far its tables are from DuckDB's exact ones.

    python benchmarks/bare_pyspark.py LAKE_ROOT OUT_DIR [--policy since_consent|any_time]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

CUSTOMER_FIELDS = (
    "customerName string, email string, phone string, birthDay string, serialNumber string, "
    "registrationDate bigint, lastUpdateDate bigint, shareWithResearchAsOfDate bigint, "
    "shareWithPublicAsOfDate bigint, shareWithFriendsAsOfDate bigint"
)
ACCELEROMETER_FIELDS = "user string, timestamp bigint, x double, y double, z double"
STEP_TRAINER_FIELDS = "sensorReadingTime bigint, serialNumber string, distanceFromObject int"
REQUIRED = {
    "customer": ("email", "serialNumber", "lastUpdateDate"),
    "accelerometer": ("user", "timestamp", "x", "y", "z"),
    "step_trainer": ("sensorReadingTime", "serialNumber", "distanceFromObject"),
}
TIMES = (
    "registrationDate",
    "lastUpdateDate",
    "shareWithResearchAsOfDate",
    "shareWithPublicAsOfDate",
    "shareWithFriendsAsOfDate",
    "timestamp",
    "sensorReadingTime",
)
WHITESPACE = " \t\n\u000b\f\r"
EARLIEST_MS = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp() * 1000)
MAX_ACCELERATION = 16.0
MAX_DISTANCE = 10_000


def email(column: Column) -> Column:
    return F.lower(F.trim(column, F.lit(WHITESPACE)))


def landing(spark: SparkSession, folder: str, fields: str, source: str) -> DataFrame:
    """The landing folder's non-blank lines, parsed, with `broken` set on the lines that break
    the contract (malformed JSON, a wrong type, a missing field, an implausible value)."""
    files = [
        path
        for path in glob.glob(os.path.join(folder, "*"))
        if os.path.isfile(path) and not os.path.basename(path).startswith((".", "_"))
    ]
    lines = spark.read.text(files).select(
        F.col("_metadata.file_path").alias("file"),
        F.regexp_replace("value", "^\ufeff", "").alias("line"),
    )
    schema = f"{fields}, _corrupt_record string"
    options = {"mode": "PERMISSIVE", "allowNonNumericNumbers": "false"}
    parsed = lines.where(F.trim("line", F.lit(WHITESPACE)) != "").select(
        "file", "line", F.from_json("line", schema, options).alias("record")
    )
    record = parsed.select("file", "line", "record.*")
    names = [name for name in record.columns if name not in ("file", "line", "_corrupt_record")]
    latest_ms = int(time.time() * 1000) + 24 * 3_600_000
    problems = [F.col("_corrupt_record").isNotNull()]
    problems += [F.col(name).isNull() for name in REQUIRED[source]]
    problems += [~F.col(name).between(EARLIEST_MS, latest_ms) for name in TIMES if name in names]
    problems += [F.abs(F.col(axis)) > MAX_ACCELERATION for axis in ("x", "y", "z") if axis in names]
    if source == "step_trainer":
        problems.append(~F.col("distanceFromObject").between(0, MAX_DISTANCE))
    if source == "customer":
        problems.append(F.trim("email", F.lit(WHITESPACE)) == "")
    broken = F.lit(False)
    for problem in problems:
        broken = broken | F.coalesce(problem, F.lit(False))
    return record.select("file", "line", *names, broken.alias("broken"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake_root")
    parser.add_argument("out_dir")
    parser.add_argument("--policy", default="since_consent", choices=["since_consent", "any_time"])
    args = parser.parse_args()
    started = time.perf_counter()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    spark = (
        SparkSession.builder.master("local[*]")
        .appName("stedi-bare")
        .config("spark.driver.memory", f"{memory // 3 // 2**20}m")  # as the project's default
        .config("spark.sql.shuffle.partitions", str(4 * (os.cpu_count() or 1)))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    since_consent = args.policy == "since_consent"

    def folder(source: str) -> str:
        return os.path.join(args.lake_root, source, "landing")

    def write(name: str, rows: DataFrame) -> DataFrame:
        path = os.path.join(args.out_dir, name)
        rows.write.mode("overwrite").parquet(path)
        return spark.read.parquet(path)

    def quarantine(source: str, rows: DataFrame) -> None:
        write(f"{source}_quarantine", rows.where("broken").select("file", "line"))

    customers = landing(spark, folder("customer"), CUSTOMER_FIELDS, "customer").cache()
    quarantine("customer", customers)
    customer_columns = [name for name in customers.columns if name not in ("file", "broken")]
    newest_first = Window.partitionBy("email").orderBy(
        F.col("lastUpdateDate").desc(), F.col("line").desc()
    )
    current = (
        customers.where(~F.col("broken"))
        .withColumn("email", email(F.col("email")))
        .withColumn("newest", F.row_number().over(newest_first))
        .where("newest = 1")
        .select(*customer_columns)
        .drop("line")
        .cache()
    )
    customer_trusted = write(
        "customer_trusted", current.where(F.col("shareWithResearchAsOfDate").isNotNull())
    )

    def after_consent(reading_time: str) -> Column:
        return F.col(reading_time) >= F.col("consent") if since_consent else F.lit(True)

    customers.unpersist()
    readings = landing(spark, folder("accelerometer"), ACCELEROMETER_FIELDS, "accelerometer")
    readings = readings.cache()
    quarantine("accelerometer", readings)
    consenting_users = customer_trusted.select(
        F.col("email").alias("user"), F.col("shareWithResearchAsOfDate").alias("consent")
    )
    accelerometer_trusted = write(
        "accelerometer_trusted",
        readings.where(~F.col("broken"))
        .select(email(F.col("user")).alias("user"), "timestamp", "x", "y", "z")
        .distinct()
        .join(F.broadcast(consenting_users), "user")
        .where(after_consent("timestamp"))
        .drop("consent"),
    )
    customers_curated = write(
        "customers_curated",
        customer_trusted.join(
            accelerometer_trusted.select(F.col("user").alias("email")).distinct(),
            "email",
            "left_semi",
        ),
    )

    readings.unpersist()
    devices = landing(spark, folder("step_trainer"), STEP_TRAINER_FIELDS, "step_trainer").cache()
    quarantine("step_trainer", devices)
    sole_owner = (
        current.groupBy("serialNumber")
        .agg(F.count(F.lit(1)).alias("carriers"), F.min("email").alias("email"))
        .where("carriers = 1")
        .join(customers_curated, ["serialNumber", "email"], "left_semi")
        .join(current.select("email", F.col("shareWithResearchAsOfDate").alias("consent")), "email")
        .select("serialNumber", "consent")
    )
    step_trainer_trusted = write(
        "step_trainer_trusted",
        devices.where(~F.col("broken"))
        .select("sensorReadingTime", "serialNumber", "distanceFromObject")
        .distinct()
        .join(F.broadcast(sole_owner), "serialNumber")
        .where(after_consent("sensorReadingTime"))
        .drop("consent"),
    )
    owners = customers_curated.select("serialNumber", F.col("email").alias("user"))
    write(
        "machine_learning_curated",
        step_trainer_trusted.join(owners, "serialNumber")
        .join(
            accelerometer_trusted.withColumnRenamed("timestamp", "sensorReadingTime"),
            ["user", "sensorReadingTime"],
        )
        .select("sensorReadingTime", "serialNumber", "distanceFromObject", "x", "y", "z"),
    )
    spark.stop()
    print(f"bare PySpark: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
