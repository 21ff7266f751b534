"""A table's checks, row count, preview, privacy count and charts are asked of Spark together:
one job answers them all (the publish flow's fixed cost is counted in jobs)."""

from decimal import Decimal
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.publishing.metadata import PREVIEW_ROWS, ReadingsPerCustomer, preview_part
from stedi_assets.publishing.verify import content_aggregates, content_hashes, summed_hashes
from stedi_assets.storage.one_job import aggregate_in_one_job
from stedi_assets.tables.personal_data import MASK
from stedi_assets_tests.lakes import lake_with, materialize_lake, read_rows


def jobs_of(spark: SparkSession, group: str) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_aggregates_of_different_rows_come_from_one_job(spark: SparkSession) -> None:
    readings = spark.range(1, 1001).select(
        (F.col("id") % 7).alias("device"), (F.col("id") * 10).alias("reading_time")
    )
    late = readings.where(F.col("reading_time") > 9000).groupBy("device").count()
    spark.sparkContext.setJobGroup("one_job", "aggregate_in_one_job")
    try:
        per_readings, per_late = aggregate_in_one_job(
            (readings, [F.count(F.lit(1)), F.count_distinct("device"), F.max("reading_time")]),
            (late, [F.sum("count"), F.count(F.lit(1))]),
        )
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert tuple(per_readings) == (1000, 7, 10000)
    assert tuple(per_late) == (100, 7)
    assert jobs_of(spark, "one_job") == 1


def test_the_preview_is_the_first_rows_in_column_order_with_personal_fields_masked(
    spark: SparkSession,
) -> None:
    day = 86_400_000
    customers = spark.createDataFrame(
        [(f"{name}@x.com", name.title(), index, index * day + 5) for index, name in
         enumerate(["zoe", "bob", "ann", "eve", "dan", "cat", "fay"])],
        "email string, customerName string, visits long, registrationDate long",
    )  # fmt: skip
    (values,) = aggregate_in_one_job(preview_part(customers))
    (sample,) = values
    # Ordered by the values themselves; every personal field masked whole, times by their day.
    assert [tuple(row) for row in sample] == [
        (MASK, MASK, 2, "1970-01-03"),
        (MASK, MASK, 1, "1970-01-02"),
        (MASK, MASK, 5, "1970-01-06"),
        (MASK, MASK, 4, "1970-01-05"),
        (MASK, MASK, 3, "1970-01-04"),
    ][:PREVIEW_ROWS]
    (empty,) = aggregate_in_one_job(preview_part(customers.limit(0)))
    assert empty[0] is None


def test_a_column_without_an_order_does_not_stop_the_preview(spark: SparkSession) -> None:
    """A map has no order: the preview orders by the other columns (a failing preview would
    fail the checks' pass, and the table would not be published)."""
    readings = spark.range(8).select(
        (7 - F.col("id")).alias("reading"),
        F.create_map(F.lit("unit"), F.lit("g")).alias("labels"),
    )
    ((sample,),) = aggregate_in_one_job(preview_part(readings))
    assert [row["reading"] for row in sample] == [0, 1, 2, 3, 4][:PREVIEW_ROWS]
    assert all(row["labels"] == {"unit": "g"} for row in sample)


def readings_of(spark: SparkSession, counts: dict[str, int]) -> DataFrame:
    rows = [(user,) for user, count in counts.items() for _ in range(count)]
    return spark.createDataFrame(rows, "user string")


def test_the_readings_chart_counts_customers_by_their_readings_in_the_same_job(
    spark: SparkSession,
) -> None:
    readings = readings_of(spark, {"ann": 1, "bob": 2, "cat": 10, "dan": 11, "eve": 501})
    chart = ReadingsPerCustomer("user").whole(readings)
    spark.sparkContext.setJobGroup("chart", "the chart beside another aggregate")
    try:
        (count,), customers = aggregate_in_one_job(
            (readings, [F.count(F.lit(1))]), (chart.rows, chart.columns)
        )
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert jobs_of(spark, "chart") == 1
    assert count == 525
    assert chart.counts(customers) == [1, 2, 1, 0, 0, 1]  # 1, 2-10, 11-50, 51-100, 101-500, 501+
    drawn = chart.draw(chart.counts(customers)).value
    assert "|  | customers | share |" in drawn
    assert "| 2-10 | 2 | 40.0 % |" in drawn and "| 501+ | 1 | 20.0 % |" in drawn


def test_the_readings_chart_grown_by_added_readings_is_the_chart_of_all_of_them(
    spark: SparkSession,
) -> None:
    """An increment's chart is the published counts changed by the customers it adds readings
    of: one moving up a bucket, one up to the edge of the next, one staying in 501+, one new."""
    published = readings_of(spark, {"ann": 1, "bob": 10, "cat": 50, "dan": 600, "fay": 2})
    added = readings_of(spark, {"bob": 1, "cat": 1, "dan": 5, "eve": 3})
    chart = ReadingsPerCustomer("user")
    whole = chart.whole(published)
    (before,) = aggregate_in_one_job((whole.rows, whole.columns))
    published_counts = whole.counts(before)
    assert published_counts == [1, 2, 1, 0, 0, 1]
    grown = chart.grown(published, added, published_counts)
    (answer,) = aggregate_in_one_job((grown.rows, grown.columns))
    assert grown.counts(answer) == [1, 2, 1, 1, 0, 1]  # ann; fay, eve; bob; cat; dan
    everything = chart.whole(published.unionByName(added))
    (recount,) = aggregate_in_one_job((everything.rows, everything.columns))
    assert grown.counts(answer) == everything.counts(recount)


def test_a_full_build_of_a_new_lake_makes_at_most_60_spark_jobs(
    spark: SparkSession, generated_landing: Path, tmp_path: Path
) -> None:
    """On a small lake a run's time goes to the number of Spark jobs more than to the rows. A
    new table's first commit is an append (an overwrite lists the files it replaces first, a
    job of its own) and no commit copies the table's file list into its checksum (a job after
    each commit): without both, the same build makes 77."""
    root = lake_with(generated_landing, tmp_path / "lake")
    spark.sparkContext.setJobGroup("full_build", "a full build of a new lake")
    try:
        result = materialize_lake(root, spark)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert result.success
    assert read_rows(spark, root / "step_trainer/curated"), "the build published no row"
    assert 20 < jobs_of(spark, "full_build") <= 60


def content_digest(rows: DataFrame) -> list[Decimal]:
    ((*halves,),) = aggregate_in_one_job((rows, content_aggregates(rows)))
    return summed_hashes(halves)


def test_the_content_digest_is_the_exact_sum_of_two_hashes_of_each_row(
    spark: SparkSession,
) -> None:
    """The digest an increment carries forward (adding its new rows', subtracting its removed
    ones') is the exact sum of each row's hashes, put together from Spark's sums of their
    halves, negative hashes included."""
    rows = spark.range(2000).select(
        F.concat(F.lit("user"), (F.col("id") % 97).cast("string")).alias("user"),
        (F.col("id") * 37).alias("timestamp"),
        F.when(F.col("id") % 5 > 0, F.col("id") / 3).alias("x"),
    )
    digest = content_digest(rows)
    (hashes,) = aggregate_in_one_job(
        (rows.select(F.struct(*content_hashes(rows)).alias("h")), [F.collect_list("h")])
    )
    by_row = [tuple(row) for row in hashes[0]]
    assert any(value < 0 for pair in by_row for value in pair)
    assert digest == [Decimal(sum(pair[i] for pair in by_row)) for i in range(2)]
    earlier, later = rows.where("timestamp < 30000"), rows.where("timestamp >= 30000")
    parts = [content_digest(earlier), content_digest(later)]
    assert [a + b for a, b in zip(*parts, strict=True)] == digest
    assert content_digest(rows.orderBy(F.rand(7)).repartition(5)) == digest
    assert content_digest(rows.limit(0)) == [Decimal(0), Decimal(0)]


def test_the_content_digest_tells_a_null_from_any_value(spark: SparkSession) -> None:
    """A hash passes over a null: the digest also reads which columns are null, and an array,
    struct or map as JSON, so a value moved to another column or place, or a null in place of
    an empty string, is another row."""
    schema = "a string, b string"
    digests = [
        content_digest(spark.createDataFrame(rows, schema))
        for rows in ([("x", None)], [(None, "x")], [("x", "")], [("x", None), ("x", None)])
    ]
    nested = [
        content_digest(spark.createDataFrame([row], "tags array<string>, labels map<string,int>"))
        for row in ((["x", None], {"a": 1}), ([None, "x"], {"a": 1}), (["x"], {"a": None}))
    ]
    assert len({tuple(digest) for digest in [*digests, *nested]}) == 7
