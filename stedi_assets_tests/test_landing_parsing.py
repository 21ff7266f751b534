"""Rule 1: every landing line is either a typed record or a quarantine row naming file, line and
reason; blank lines are ignored; nothing is dropped silently."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract.landing import (
    ACCELEROMETER,
    CUSTOMER,
    STEP_TRAINER,
    LandingSource,
    load_landing,
    number_lines,
    plain_record_pattern,
    read_landing_lines,
)
from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.contract.readings import build_accelerometer_trusted
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.publishing.flow import current_inputs
from stedi_assets.publishing.publication import Sources
from stedi_assets.storage.landing_store import landing_store
from stedi_assets_tests.lakes import landing_uris

# Most lines here use small times: every time from the epoch on is plausible in these tests.
RANGES = PlausibleRanges.as_of(earliest_time="1970-01-01")


def parse(
    spark: SparkSession,
    folder: Path,
    source: LandingSource,
    content: bytes,
    ranges: PlausibleRanges = RANGES,
) -> list[dict]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part.json").write_bytes(content)
    parsed = load_landing(spark, landing_uris(folder), source, ranges, keep_valid_lines=True)
    rows = number_lines(parsed, parsed).orderBy("line_number").collect()
    return [row.asDict() for row in rows]


def reasons(spark: SparkSession, tmp_path: Path, source: LandingSource, *lines: str) -> list:
    rows = parse(spark, tmp_path / "landing", source, "\n".join(lines).encode() + b"\n")
    return [row["reason"] for row in rows]


GOOD_READING = '{"user":"a@b.c","timestamp":5,"x":1,"y":2.5,"z":-3e0}'


def test_a_valid_reading_is_typed_and_has_no_reason(spark: SparkSession, tmp_path: Path) -> None:
    (row,) = parse(spark, tmp_path / "l", ACCELEROMETER, GOOD_READING.encode() + b"\n")
    assert row["reason"] is None
    assert (row["user"], row["timestamp"], row["x"], row["y"], row["z"]) == (
        "a@b.c",
        5,
        1.0,
        2.5,
        -3.0,
    )
    assert row["source_file"].endswith("/l/part.json") and row["line_number"] == 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"user":"a@b.c","timestamp":5', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"just text"', "not a JSON object"),
        ("42", "not a JSON object"),
        ('{"user":"a","user":"b","timestamp":5,"x":1,"y":1,"z":1}', "not valid JSON"),
        ('{"user":"a@b.c","timestamp":5,"x":NaN,"y":1,"z":1}', "not valid JSON"),
        ('{"timestamp":5,"x":1,"y":1,"z":1}', "missing required field `user`"),
        ('{"user":null,"timestamp":5,"x":1,"y":1,"z":1}', "missing required field `user`"),
        ('{"user":7,"timestamp":5,"x":1,"y":1,"z":1}', "field `user` must be a string, got BIGINT"),
        (
            '{"user":"a@b.c","timestamp":"5","x":1,"y":1,"z":1}',
            "field `timestamp` must be an integer, got STRING",
        ),
        (
            '{"user":"a@b.c","timestamp":5.5,"x":1,"y":1,"z":1}',
            "field `timestamp` must be an integer, got DECIMAL(2,1)",
        ),
        (
            '{"user":"a@b.c","timestamp":1e3,"x":1,"y":1,"z":1}',
            "field `timestamp` must be an integer, got DOUBLE",
        ),
        (
            '{"user":"a@b.c","timestamp":99999999999999999999,"x":1,"y":1,"z":1}',
            "field `timestamp` must be an integer, got DECIMAL(20,0)",
        ),
        (
            '{"user":"a@b.c","timestamp":5,"x":true,"y":1,"z":1}',
            "field `x` must be a number, got BOOLEAN",
        ),
        (
            '{"user":"a@b.c","timestamp":5,"x":1e400,"y":1,"z":1}',
            "field `x` is not a finite number",
        ),
    ],
)
def test_a_bad_reading_is_quarantined_with_its_reason(
    spark: SparkSession, tmp_path: Path, line: str, reason: str
) -> None:
    assert reasons(spark, tmp_path, ACCELEROMETER, line) == [reason]


GARBAGE_AFTER = [
    GOOD_READING + " x",
    GOOD_READING + "}",
    GOOD_READING + " " + GOOD_READING,
    GOOD_READING + "] [",
    GOOD_READING + ",0] x",
    GOOD_READING + "][{}",
]


def test_a_line_separator_after_a_plain_record_is_text_after_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    # U+2028 and U+0085 end a line for Java's `$`, but they are not JSON white space.
    lines = [GOOD_READING + "\u2028", GOOD_READING + " \u0085"]
    assert reasons(spark, tmp_path, ACCELEROMETER, *lines) == ["text after the JSON object"] * 2


@pytest.mark.parametrize("line", GARBAGE_AFTER)
def test_text_after_the_object_is_quarantined(
    spark: SparkSession, tmp_path: Path, line: str
) -> None:
    # Spark's JSON parsers ignore what follows the first value; the contract does not.
    assert reasons(spark, tmp_path, ACCELEROMETER, line) == ["text after the JSON object"]


def test_brackets_inside_strings_and_nested_values_are_fine(
    spark: SparkSession, tmp_path: Path
) -> None:
    tricky = '{"user":"a}]\\"[{b","timestamp":5,"x":1,"y":1,"z":1,"extra":[{"k":"]"},[]]} '
    (row,) = parse(spark, tmp_path / "l", ACCELEROMETER, tricky.encode() + b"\n")
    assert row["reason"] is None and row["user"] == 'a}]"[{b'


def test_every_problem_of_a_line_is_reported(spark: SparkSession, tmp_path: Path) -> None:
    (reason,) = reasons(spark, tmp_path, ACCELEROMETER, '{"user":"a@b.c","x":"1","y":1}')
    assert reason.split("; ") == [
        "missing required field `timestamp`",
        "field `x` must be a number, got STRING",
        "missing required field `z`",
    ]


def test_int_fields_are_range_checked(spark: SparkSession, tmp_path: Path) -> None:
    too_far = '{"sensorReadingTime":1,"serialNumber":"s","distanceFromObject":3000000000}'
    fine = '{"sensorReadingTime":1,"serialNumber":"s","distanceFromObject":3}'
    assert reasons(spark, tmp_path, STEP_TRAINER, too_far, fine) == [
        "field `distanceFromObject` is out of range for int",
        None,
    ]


def test_customer_rules(spark: SparkSession, tmp_path: Path) -> None:
    required = '"serialNumber":"s","lastUpdateDate":1'
    assert reasons(
        spark,
        tmp_path,
        CUSTOMER,
        '{"email":"  \\t ",' + required + "}",
        '{"email":"a@b.c","lastUpdateDate":1}',
        '{"email":"a@b.c","serialNumber":"s"}',
        '{"email":"a@b.c",' + required + ',"shareWithResearchAsOfDate":"yes"}',
        '{"email":"a@b.c",' + required + ',"shareWithResearchAsOfDate":null,"extra":[1]}',
    ) == [
        "blank `email`",
        "missing required field `serialNumber`",
        "missing required field `lastUpdateDate`",
        "field `shareWithResearchAsOfDate` must be an integer, got STRING",
        None,  # optional fields may be null, unknown fields are ignored
    ]


def test_blank_lines_crlf_and_bom(spark: SparkSession, tmp_path: Path) -> None:
    content = ("\ufeff" + GOOD_READING + "\r\n\r\n   \n" + GOOD_READING + "\r\n").encode()
    rows = parse(spark, tmp_path / "l", ACCELEROMETER, content)
    assert [(row["line_number"], row["blank"], row["reason"]) for row in rows] == [
        (1, False, None),
        (2, True, None),
        (3, True, None),
        (4, False, None),
    ]
    assert rows[0]["line"] == GOOD_READING and rows[3]["line"] == GOOD_READING


def test_a_last_line_without_newline_is_read_and_an_empty_file_has_none(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "l"
    folder.mkdir()
    (folder / "empty.json").write_bytes(b"")
    rows = parse(spark, folder, ACCELEROMETER, GOOD_READING.encode())
    assert [(Path(row["source_file"]).name, row["line_number"]) for row in rows] == [
        ("part.json", 1)
    ]


def test_an_increment_without_a_new_file_builds_nothing_and_runs_no_spark_job(
    spark: SparkSession,
) -> None:
    """A run that adds no file of a reading source (a consent change) parses no line: Spark
    sees the build is empty without reading the records read before or the consents."""
    read_before = spark.range(200_000).select(
        F.concat(F.lit("u"), (F.col("id") % 500).cast("string"), F.lit("@x.com")).alias("user"),
        F.col("id").alias("timestamp"),
        *(F.col("id").cast("double").alias(axis) for axis in "xyz"),
    )
    consent = spark.range(500).select(
        F.concat(F.lit("u"), F.col("id").cast("string"), F.lit("@x.com")).alias("user"),
        F.lit(0).cast("long").alias("consent_time"),
    )
    spark.sparkContext.setJobGroup("no_new_file", "an increment without a new file")
    try:
        parsed = load_landing(spark, [], ACCELEROMETER, RANGES)
        build = build_accelerometer_trusted(parsed, consent, True, read_before, few=True)
        rows, quarantine = build.rows.collect(), build.quarantine.collect()
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert spark.sparkContext.statusTracker().getJobIdsForGroup("no_new_file") == []
    assert rows == [] and quarantine == []
    assert build.accounting.lines_read == build.accounting.blank_lines == 0
    assert set(build.accounting.counts.values()) == {0}


def test_valid_lines_text_is_dropped_unless_asked_for(spark: SparkSession, tmp_path: Path) -> None:
    folder = tmp_path / "l"
    folder.mkdir()
    (folder / "part.json").write_text(GOOD_READING + "\n{oops\n")
    parsed = load_landing(spark, landing_uris(folder), ACCELEROMETER, RANGES)
    numbered = number_lines(parsed, parsed).orderBy("line_number")
    assert [row["line"] for row in numbered.collect()] == [None, "{oops"]


def test_a_missing_landing_folder_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    lake = LakeResource(root=str(tmp_path / "nowhere"))
    store = landing_store(lake.layout, s3_client_factory=None)
    with pytest.raises(
        FileNotFoundError, match=r"No landing folder at .*/nowhere/customer/landing: check"
    ):
        current_inputs(spark, lake, store, Sources(landing=["customer"]))


def test_a_listed_file_gone_before_it_is_read_is_a_clear_error(
    spark: SparkSession, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError, match=r"A landing file listed for this run is gone"):
        read_landing_lines(spark, [str(tmp_path / "gone.json")])


# Field values as JSON text: plain ones (the fast path cuts them out of the line) and ones only
# the JSON parser reads. Each record is written in declared field order, which a plain record
# needs, and in reverse order, which always goes through the parser: both must read the same.
READING_VALUES = [
    ('"a@b.c"', "5", "1", "2.5", "-3"),
    ('"Zoë:x@b.c"', "0", "-0.0", "0.10000000000000000001", "123456789012345.5"),
    ('" \ufffc\ufffe\uffff\U0001f600 "', "1", "2", "3", "4"),
    ('""', "999999999999999999", "-1.5", "7", "8"),
    ('"a\\"b"', "9223372036854775807", "1e5", "-2E-3", "0"),
    ('"\ufffd"', "9223372036854775808", "1", "2", "3"),
    ('"a\ufffd"', "5", "1", "2", "3"),
    ('"tab\there"', "5", "1", "2", "3"),
    ("7", "5", '"1"', "null", "1e999"),
]
CUSTOMER_VALUES = [
    ('"N"', '" A@B.c "', '"1"', '"2000-01-01"', '"s"', "1", "2", "3", "null", "null"),
    ("null", '"  "', "null", "null", '"s"', "null", "2", "null", "null", "null"),
]


def record_line(source: LandingSource, values: tuple[str, ...], reverse: bool = False) -> str:
    """A JSON object of `source`'s fields with these value texts, in declared field order (or
    reversed)."""
    members = [f'"{name}":{value}' for name, value in zip(source.columns, values, strict=True)]
    return "{" + ",".join(reversed(members) if reverse else members) + "}"


@pytest.mark.parametrize(
    ("source", "values"),
    [(ACCELEROMETER, values) for values in READING_VALUES]
    + [(CUSTOMER, values) for values in CUSTOMER_VALUES],
)
def test_plain_records_read_as_the_json_parser_reads_them(
    spark: SparkSession, tmp_path: Path, source: LandingSource, values: tuple[str, ...]
) -> None:
    declared, reversed_ = record_line(source, values), record_line(source, values, reverse=True)
    first, second = parse(
        spark, tmp_path / "l", source, (declared + "\n" + reversed_ + "\n").encode()
    )
    fields = ["reason", *source.columns]
    assert [first[name] for name in fields] == [second[name] for name in fields]
    assert repr(first["x"] if source is ACCELEROMETER else 0) != "-0.0"


def test_the_plain_pattern_takes_only_plain_literals(spark: SparkSession) -> None:
    """Run by Java's regex engine, as Spark runs it."""

    def plain(source: LandingSource, rows: list[tuple[str, ...]]) -> list[bool]:
        matched = spark.createDataFrame(
            [(i, record_line(source, values)) for i, values in enumerate(rows)],
            "i int, line string",
        )
        pattern = plain_record_pattern(source)
        return [
            row[0] for row in matched.orderBy("i").select(F.col("line").rlike(pattern)).collect()
        ]

    assert plain(ACCELEROMETER, READING_VALUES) == [*[True] * 4, *[False] * 5]
    assert all(plain(CUSTOMER, CUSTOMER_VALUES))


def test_invalid_utf8_is_read_as_the_json_parser_reads_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A line with invalid UTF-8 in a string reads the same in declared field order (which
    the plain pattern could take) and in reverse order (always the JSON parser)."""
    declared = b'{"user":"a\xffb@c.d","timestamp":5,"x":1,"y":2,"z":3}'
    reversed_ = b'{"z":3,"y":2,"x":1,"timestamp":5,"user":"a\xffb@c.d"}'
    first, second = parse(
        spark, tmp_path / "l", ACCELEROMETER, declared + b"\n" + reversed_ + b"\n"
    )
    fields = ["reason", *ACCELEROMETER.columns]
    assert [first[name] for name in fields] == [second[name] for name in fields]


NOW_MS = 1_790_000_000_000  # 2026-09-21
DEFAULT_RANGES = PlausibleRanges.as_of(now_ms=NOW_MS)


@pytest.mark.parametrize(
    ("source", "values", "reason"),
    [
        (ACCELEROMETER, ('"a@b.c"', "1650000000000", "16", "-16", "0.5"), None),
        (
            ACCELEROMETER,
            ('"a@b.c"', "0", "1", "2", "3"),
            "field `timestamp` is implausible: 0 is not a time from 2015-01-01T00:00:00Z to "
            "2026-09-22T14:13:20Z",
        ),
        (
            ACCELEROMETER,
            ('"a@b.c"', str(NOW_MS + 25 * 3_600_000), "16.5", "2", "3"),
            f"field `timestamp` is implausible: {NOW_MS + 25 * 3_600_000} is not a time from "
            "2015-01-01T00:00:00Z to 2026-09-22T14:13:20Z; field `x` is implausible: 16.5 is "
            "not an acceleration from -16 to 16",
        ),
        (
            STEP_TRAINER,
            ("1650000000000", '"S"', "-1"),
            "field `distanceFromObject` is implausible: -1 is not a distance from 0 to 10000",
        ),
        (
            CUSTOMER,
            ('"N"', '"a@b.c"', "null", "null", '"S"', "1", "1650000000000", *["null"] * 3),
            "field `registrationDate` is implausible: 1 is not a time from "
            "2015-01-01T00:00:00Z to 2026-09-22T14:13:20Z",
        ),
    ],
)
def test_implausible_values_are_quarantined_with_the_range(
    spark: SparkSession,
    tmp_path: Path,
    source: LandingSource,
    values: tuple[str, ...],
    reason: str | None,
) -> None:
    # In declared order (the plain path) and reversed (the JSON parser): the same reason.
    members = [f'"{name}":{value}' for name, value in zip(source.columns, values, strict=True)]
    content = "{" + ",".join(members) + "}\n{" + ",".join(reversed(members)) + "}\n"
    rows = parse(spark, tmp_path / "l", source, content.encode(), DEFAULT_RANGES)
    assert [row["reason"] for row in rows] == [reason, reason]


def test_the_plausible_ranges_are_configurable(spark: SparkSession, tmp_path: Path) -> None:
    wide = PlausibleRanges.as_of(
        now_ms=NOW_MS, earliest_time="1970-01-01", max_acceleration=20, max_distance=5
    )
    content = (
        b'{"user":"a@b.c","timestamp":0,"x":19.5,"y":-20,"z":0}\n'
        b'{"user":"a@b.c","timestamp":0,"x":20.5,"y":0,"z":0}\n'
    )
    rows = parse(spark, tmp_path / "l", ACCELEROMETER, content, wide)
    assert [row["reason"] for row in rows] == [
        None,
        "field `x` is implausible: 20.5 is not an acceleration from -20 to 20",
    ]
    with pytest.raises(ValueError, match="'soon' is not an ISO date such as 2015-01-01"):
        PlausibleRanges.as_of(earliest_time="soon")
