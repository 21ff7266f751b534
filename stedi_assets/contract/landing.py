"""Reading landing files into typed records, and quarantining every line that breaks the contract.

Files are read as lines by Spark's line reader (streamed, large files split over several tasks)
and each record keeps the file and exact line number it came from: a quarantine row names the
file, the line and the field at fault. Each line is parsed once, into Spark's VARIANT type, whose
exact JSON types let the contract tell a string from a number (a typed JSON reader would
silently turn `5` into `"5"`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from stedi_assets.contract.erasure import IDENTITY, ErasedHashes, line_is_erased, record_is_erased
from stedi_assets.contract.identity import ASCII_WHITESPACE, JSON_STRING
from stedi_assets.contract.plausibility import ACCELERATION, DISTANCE, TIME, PlausibleRanges

# JSON types that `schema_of_variant` reports for numbers without fraction or exponent.
_INTEGER_TYPES = "^(BIGINT|INT|SMALLINT|TINYINT)$"
_NUMBER_TYPES = "^(BIGINT|INT|SMALLINT|TINYINT|DOUBLE|FLOAT|DECIMAL.*)$"
_ABSENT_TYPES = ("NULL", "VOID")  # the field is missing, or JSON null
_JSON_WHITESPACE_TO_END = r"\}[ \t\r\n]*\z"
# Plain records (`plain_record_pattern`): literals whose text is exactly their value. Java's
# regex engine runs this on nearly every landing line, so its form is chosen for speed as well
# (same lines matched): white space greedy (what follows it never starts with white space), and
# U+FFFD taken out by an intersection (in the one negated class it made matching 2.7 times
# slower).
_PLAIN_SPACE = "[ \t]*"
_PLAIN_LITERALS = {
    # No escapes, no control characters, no U+FFFD (which stands in for invalid UTF-8).
    "string": r'"[[^"\\\x00-\x1f]&&[^\ufffd]]*+"',
    "bigint": r"-?(?:0|[1-9][0-9]{0,17}+)",
    "int": r"-?(?:0|[1-9][0-9]{0,8}+)",
    "double": r"-?(?:0|[1-9][0-9]{0,15}+)(?:\.[0-9]{1,20}+)?",
}
# Each value of a plain record, in order: its strings hold no quote, so none can hide a colon.
_PLAIN_VALUE = r':[ \t]*("[^"]*"|[-0-9.]+|null)'


@dataclass(frozen=True)
class LandingField:
    """One field of a landing record: its name, its Spark type and whether a record needs it."""

    name: str
    spark_type: T.DataType
    required: bool
    measure: str | None = None
    """What the value measures (`plausibility.TIME`, …), when it has a plausible range."""

    @property
    def type_name(self) -> str:
        return self.spark_type.simpleString()


@dataclass(frozen=True)
class LandingSource:
    """A landing source: the folder name in the lake, what it holds and the fields of its JSON
    records."""

    name: str
    description: str
    fields: tuple[LandingField, ...]

    @property
    def columns(self) -> list[str]:
        return [field.name for field in self.fields]

    @property
    def spark_schema(self) -> T.StructType:
        return T.StructType([T.StructField(f.name, f.spark_type) for f in self.fields])

    @property
    def reading_time(self) -> str:
        """The field of a reading's time: a reading source's one time field."""
        (time,) = (field.name for field in self.fields if field.measure == TIME)
        return time


def _fields(*specs: tuple) -> tuple[LandingField, ...]:
    """Fields from (name, Spark type, required[, measure]) tuples."""
    return tuple(LandingField(*spec) for spec in specs)


CUSTOMER = LandingSource(
    "customer",
    "Customer records written by the STEDI mobile app and website, one JSON object per line: "
    "name, email, phone, birthday, the serial number of the customer's step trainer, and consent "
    "dates. A customer may appear many times; the newest record counts.",
    _fields(
        ("customerName", T.StringType(), False),
        ("email", T.StringType(), True),
        ("phone", T.StringType(), False),
        ("birthDay", T.StringType(), False),
        ("serialNumber", T.StringType(), True),
        ("registrationDate", T.LongType(), False, TIME),
        ("lastUpdateDate", T.LongType(), True, TIME),
        ("shareWithResearchAsOfDate", T.LongType(), False, TIME),
        ("shareWithPublicAsOfDate", T.LongType(), False, TIME),
        ("shareWithFriendsAsOfDate", T.LongType(), False, TIME),
    ),
)
ACCELEROMETER = LandingSource(
    "accelerometer",
    "Phone accelerometer readings written by the mobile app during step training: the user's "
    "email, a timestamp in epoch milliseconds and x/y/z acceleration.",
    _fields(
        ("user", T.StringType(), True),
        ("timestamp", T.LongType(), True, TIME),
        ("x", T.DoubleType(), True, ACCELERATION),
        ("y", T.DoubleType(), True, ACCELERATION),
        ("z", T.DoubleType(), True, ACCELERATION),
    ),
)
STEP_TRAINER = LandingSource(
    "step_trainer",
    "Step-trainer sensor readings keyed by the device's serial number: reading time in epoch "
    "milliseconds and the distance to the object in front of the sensor.",
    _fields(
        ("sensorReadingTime", T.LongType(), True, TIME),
        ("serialNumber", T.StringType(), True),
        ("distanceFromObject", T.IntegerType(), True, DISTANCE),
    ),
)

SENSOR_READING_SOURCES = (ACCELEROMETER.name, STEP_TRAINER.name)
"""The sources of sensor readings: nearly every landing line, what a rebuild parses the most of."""

LANDING_SOURCES_BY_NAME = {
    source.name: source for source in (CUSTOMER, ACCELEROMETER, STEP_TRAINER)
}


# Where a line sits in the scan, until `FileSplits.numbered` turns it into its line number.
_SPLIT_START = "split_start"
_SCAN_POSITION = "scan_position"
_LINE_POSITION = (_SPLIT_START, _SCAN_POSITION)
_REFUSED = "refused"
_LINES_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField(_SPLIT_START, T.LongType()),
        T.StructField(_SCAN_POSITION, T.LongType()),
        T.StructField("line", T.StringType()),
        T.StructField(_REFUSED, T.StringType()),
    ]
)
"""What `read_landing_lines` gives."""

REFUSED_COMPRESSIONS = (".bz2", ".deflate", ".lz4", ".snappy", ".zst")
"""Endings Spark's line reader would decompress by, which the contract does not read: only
uncompressed and gzip (`.gz`) files are landing data, so that everything that reads landing
files (the erasure among them) reads the same lines."""
_GLOB_CHARACTERS = re.compile(r"([\\\[\]{}*?])")


def refusal(file: str) -> str | None:
    """Why the contract does not read a landing file, or None when it does."""
    suffix = next((end for end in REFUSED_COMPRESSIONS if file.endswith(end)), None)
    if suffix is None:
        return None
    return (
        f"file not read: compressed as {suffix}; landing files are read uncompressed or "
        "gzip-compressed (.gz)"
    )


def exact_path(uri: str) -> str:
    """`uri` as Spark's reader takes it literally: Spark expands `[]{}*?` in a path as a glob
    (`x[1].json` would read `x1.json`), unless they are escaped."""
    return _GLOB_CHARACTERS.sub(r"\\\1", uri)


def _as_spark_names(uri: str) -> str:
    """A file's URI as Spark's `_metadata.file_path` names it, decoded (`file:` for a folder)."""
    return f"file:{uri}" if uri.startswith("/") else uri


def read_landing_lines(spark: SparkSession, files: Sequence[str]) -> DataFrame:
    """Every line of the landing files at `files` (URIs from a listing, read as they are: no
    glob), read as lines: `source_file`, `line`, and where the line sits in the scan
    (`FileSplits.numbered` turns that into its line number).

    Spark's line reader streams each file, and splits a large uncompressed one into several
    tasks, so memory is bounded by a task, never by a file. Lines end at LF only (a lone CR is
    part of a line, as JSON white space); the CR of a CRLF ending is removed; the reader drops a
    byte-order mark at the start of a file, and the empty string after a final newline is not a
    line. Blank lines are kept here (they are counted). A file the contract does not read
    (`refusal`) is one row with no line, numbered 0, and its `refused` reason. No file gives no
    line.
    """
    readable = [uri for uri in files if refusal(uri) is None]
    refused = [(_as_spark_names(uri), -1, 0, None, refusal(uri)) for uri in files if refusal(uri)]
    if not files:
        # Limited to no row, the relation is empty to Spark's optimizer (an empty list alone
        # becomes a scan of no rows, which it cannot see through).
        return spark.createDataFrame([], _LINES_SCHEMA).limit(0)
    lines = spark.createDataFrame(refused, _LINES_SCHEMA)
    if not readable:
        return lines
    try:
        texts = spark.read.text([exact_path(uri) for uri in readable], lineSep="\n")
        texts.schema  # noqa: B018 - Spark Connect resolves a read only when asked
    except AnalysisException as error:
        if error.getCondition() != "PATH_NOT_FOUND":
            raise
        raise FileNotFoundError(
            f"A landing file listed for this run is gone: {error}. The next run lists the "
            "folder again."
        ) from error
    text = F.col("value")
    # Spark names a file by its URI, percent-encoded (`x%5B1%5D.json`; a space is %20, never
    # `+`): decoded, it is the file's own name.
    file_path = F.url_decode(F.replace(F.col("_metadata.file_path"), F.lit("+"), F.lit("%2B")))
    read = texts.select(
        file_path.alias("source_file"),
        # A task reads the lines of each of its file splits in order, one after the other, and
        # this id counts the rows of a task: within one split it rises by one per line.
        F.col("_metadata.file_block_start").alias(_SPLIT_START),
        F.monotonically_increasing_id().alias(_SCAN_POSITION),
        F.when(text.endswith("\r"), F.expr("substr(value, 1, length(value) - 1)"))
        .otherwise(text)
        .alias("line"),
        F.lit(None).cast("string").alias(_REFUSED),
    )
    return read.unionByName(lines) if refused else read


def _split_key(source_file: Column, split_start: Column) -> Column:
    return F.struct(
        source_file.cast("string").alias("source_file"),
        split_start.cast("bigint").alias(_SPLIT_START),
    )


@dataclass(frozen=True)
class FileSplits:
    """What one aggregate over a scan's lines learns about each file split: where its line
    numbers start (`number_bases`), how many lines the scan holds, and how many of each kind
    asked for, in all and per file."""

    number_bases: dict[tuple[str, int], int]
    lines: int
    kind_counts: dict[str, int]
    kind_counts_by_file: dict[str, dict[str, int]]

    def numbered(self, lines: DataFrame) -> DataFrame:
        """`lines` (some rows of the summarised scan, or all of them) with each line's exact
        1-based number in its file (`line_number`) in place of its place in the scan.

        The bases travel in the plan as a literal map, so numbering needs no join (a broadcast
        join would be a Spark job of its own)."""
        split = _split_key(F.col("source_file"), F.col(_SPLIT_START))
        if self.number_bases:
            bases = F.create_map(
                *(
                    part
                    for (source_file, split_start), base in self.number_bases.items()
                    for part in (
                        _split_key(F.lit(source_file), F.lit(split_start)),
                        F.lit(base).cast("bigint"),
                    )
                )
            )
            number_base = bases[split]
        else:
            number_base = F.lit(None).cast("bigint")
        others = [name for name in lines.columns if name not in ("source_file", *_LINE_POSITION)]
        return lines.select(
            "source_file",
            (F.col(_SCAN_POSITION) + number_base).alias("line_number"),
            *others,
        )


def summarize_splits(all_lines: DataFrame, kinds: dict[str, Column] | None = None) -> FileSplits:
    """One small aggregate over `all_lines`: each file split's line count and first scan
    position (a split's lines are numbered after those of the splits before it in the same
    file), and the count of lines meeting each condition of `kinds`.

    `all_lines` should be persisted: the count and the numbering must read the same scan (a
    scan's positions are fixed by its file listing)."""
    kinds = kinds or {}
    splits = (
        all_lines.groupBy("source_file", _SPLIT_START)
        .agg(
            F.count(F.lit(1)).alias("lines"),
            F.min(_SCAN_POSITION).alias("first"),
            *(
                F.count_if(condition).alias(f"kind_{i}")
                for i, condition in enumerate(kinds.values())
            ),
        )
        .collect()
    )
    bases, lines_before = {}, {}
    by_file: dict[str, dict[str, int]] = {}
    for split in sorted(splits, key=lambda s: (s["source_file"], s[_SPLIT_START])):
        file = split["source_file"]
        before = lines_before.get(file, 0)
        # A file not read (`refusal`) is one row, numbered 0.
        first_number = 0 if split[_SPLIT_START] < 0 else before + 1
        bases[(file, split[_SPLIT_START])] = first_number - split["first"]
        lines_before[file] = before + split["lines"]
        counts = by_file.setdefault(file, dict.fromkeys(kinds, 0))
        for i, kind in enumerate(kinds):
            counts[kind] += split[f"kind_{i}"]
    kind_counts = {kind: sum(counts[kind] for counts in by_file.values()) for kind in kinds}
    return FileSplits(bases, sum(lines_before.values()), kind_counts, by_file)


def number_lines(lines: DataFrame, all_lines: DataFrame) -> DataFrame:
    """`lines` (some rows of `all_lines`, or all of them) with each line's exact 1-based number
    in its file (`line_number`); see `summarize_splits`. Only quarantined lines need their
    number, so the contract numbers those alone."""
    return summarize_splits(all_lines).numbered(lines)


def _field_problem(field: LandingField, json_type: Column, value_as_target: Column) -> Column:
    """Why the field's value breaks the contract, or null when it is fine."""
    absent = json_type.isNull() | json_type.isin(*_ABSENT_TYPES)
    if isinstance(field.spark_type, T.StringType):
        wrong_type, expected = json_type != "STRING", "a string"
    elif isinstance(field.spark_type, T.DoubleType):
        wrong_type, expected = ~json_type.rlike(_NUMBER_TYPES), "a number"
    else:
        wrong_type, expected = ~json_type.rlike(_INTEGER_TYPES), "an integer"
    problem = F.when(
        absent,
        F.lit(f"missing required field `{field.name}`") if field.required else F.lit(None),
    ).when(
        wrong_type,
        F.concat(F.lit(f"field `{field.name}` must be {expected}, got "), json_type),
    )
    if isinstance(field.spark_type, T.DoubleType):
        problem = problem.when(
            F.isnan(value_as_target) | (F.abs(value_as_target) == float("inf")),
            F.lit(f"field `{field.name}` is not a finite number"),
        )
    elif not isinstance(field.spark_type, T.StringType):
        problem = problem.when(
            value_as_target.isNull(),
            F.lit(f"field `{field.name}` is out of range for {field.type_name}"),
        )
    return problem


def _ends_with_its_object(line: Column) -> Column:
    """True when nothing but white space follows the line's JSON object.

    Spark's JSON parsers stop after the first value and ignore what follows (`{"a":1} x`
    parses), so the contract checks it: with string literals removed, the line's brackets and
    braces must balance for the first time at its last one, and only white space may follow.
    """
    unquoted = F.regexp_replace(line, JSON_STRING, '""')
    brackets = F.regexp_replace(unquoted, r"[^\[\]{}]", "")

    def step(state: Column, bracket: Column) -> Column:
        depth = state["depth"] + F.when(bracket.isin("{", "["), 1).otherwise(-1)
        closings = state["closings"] + F.when(depth == 0, 1).otherwise(0)
        return F.struct(depth.alias("depth"), closings.alias("closings"))

    start = F.struct(F.lit(0).alias("depth"), F.lit(0).alias("closings"))
    end = F.aggregate(F.split(brackets, ""), start, step)
    balances_once = (end["closings"] == 1) & (end["depth"] == 0)
    return unquoted.rlike(_JSON_WHITESPACE_TO_END) & F.when(brackets == "{}", True).otherwise(
        balances_once
    )


def plain_record_pattern(source: LandingSource) -> str:
    """A regex for the lines most landing files consist of: the source's fields in declared
    order, each a plain literal of the right type (strings without escapes or control
    characters, integers within range, decimals without exponent), optional ones maybe null.

    Such a line is certainly valid, and its values can be cut out of the text without a JSON
    parser, so the contract spends the parser only on the lines that need it."""
    members = []
    for field in source.fields:
        literal = _PLAIN_LITERALS[field.type_name]
        if not field.required:
            literal = f"(?:{literal}|null)"
        members.append(f'"{field.name}"{_PLAIN_SPACE}:{_PLAIN_SPACE}{literal}')
    body = f"{_PLAIN_SPACE},{_PLAIN_SPACE}".join(members)
    # `\z`, not `$`: Java's `$` also matches before a final U+2028 or U+0085.
    return f"^{_PLAIN_SPACE}\\{{{_PLAIN_SPACE}{body}{_PLAIN_SPACE}\\}}{_PLAIN_SPACE}\\z"


def _plain_value(field: LandingField, index: int) -> Column:
    """Field `index` of a plain record, from the literals `regexp_extract_all` cut out."""
    literal = F.col("literals")[index]
    if isinstance(field.spark_type, T.StringType):
        value = F.expr(f"substr(literals[{index}], 2, length(literals[{index}]) - 2)")
    elif isinstance(field.spark_type, T.DoubleType):
        value = literal.cast(field.spark_type) + F.lit(0.0)  # as the parser: -0.0 is 0.0
    else:
        value = literal.cast(field.spark_type)
    return F.when(literal != "null", value)


def _record_problems(source: LandingSource, ranges: PlausibleRanges) -> list[Column]:
    """Rules beyond each field's type, on the typed columns: plausible values, a real email."""
    problems = []
    for field in source.fields:
        if field.measure:
            lowest, highest, expected = ranges.bounds(field.measure)
            value = F.col(field.name)
            problems.append(
                F.when(
                    (value < F.lit(lowest)) | (value > F.lit(highest)),
                    F.concat(
                        F.lit(f"field `{field.name}` is implausible: "),
                        value.cast("string"),
                        F.lit(f" is not {expected}"),
                    ),
                )
            )
    if source is CUSTOMER:
        email = F.trim(F.col("email"), F.lit(ASCII_WHITESPACE))
        problems.append(F.when(email == "", F.lit("blank `email`")))
    return problems


FUTURE_TIME = "future_time"
"""Column of a parsed line: its earliest time after the run's latest plausible time, if any.
Such a line is quarantined now and may become plausible later: a build is only reused while
the latest plausible time stays before it (`build_inputs.BuildRecord.first_future_time_ms`)."""


def _future_time(source: LandingSource, ranges: PlausibleRanges) -> Column:
    _, latest, _ = ranges.bounds(TIME)
    later = [
        F.when(F.col(field.name) > F.lit(latest), F.col(field.name).cast("bigint"))
        for field in source.fields
        if field.measure == TIME
    ]
    if not later:
        return F.lit(None).cast("bigint")
    return later[0] if len(later) == 1 else F.least(*later)


def _joined(problems: list[Column]) -> Column:
    """The problems that apply, joined by "; ", or null when none does."""
    joined = F.concat_ws("; ", *problems)  # skips nulls, and builds no array per line
    return F.when(joined != "", joined)


ERASED = "erased"
"""Column of a parsed line: true for a line of a person (or a device) the erasure log names.
Such a line is dropped: it reaches no table, not even the quarantine, and is counted apart."""


def _with_erased(
    parsed: DataFrame, source: LandingSource, erased: ErasedHashes | None
) -> DataFrame:
    """`parsed` with `ERASED`: whether a line is an erased person's (`contract.erasure`), a
    valid record by its identity field, any other line by what its text mentions."""
    if erased is None:
        return parsed.withColumn(ERASED, F.lit(False))
    is_erased = (
        F.when(F.col("blank") | F.col(_REFUSED).isNotNull(), F.lit(False))
        .when(F.col("reason").isNull(), record_is_erased(IDENTITY[source.name]))
        .otherwise(line_is_erased(F.col("line")))
    )
    return ErasedHashes.without_key(erased.joined(parsed).withColumn(ERASED, is_erased))


def _scanned(lines: DataFrame, source: LandingSource) -> DataFrame:
    """Each line with whether it is blank, whether it is a plain record (then its literals,
    read without the JSON parser) and otherwise its JSON document (a VARIANT; null when the
    line is not JSON)."""
    plain = F.col("line").rlike(plain_record_pattern(source))
    blank = F.coalesce(F.trim(F.col("line"), F.lit(ASCII_WHITESPACE)) == "", F.lit(False))
    return lines.select(
        "source_file",
        *_LINE_POSITION,
        "line",
        blank.alias("blank"),
        _REFUSED,
        plain.alias("plain"),
        F.when(plain, F.regexp_extract_all("line", F.lit(_PLAIN_VALUE), 1)).alias("literals"),
        F.when(~plain, F.expr("try_parse_json(line)")).alias("document"),
    )


def _typed_values(source: LandingSource) -> list[Column]:
    """One column per field, of its type: from a plain record's literals, or its document."""
    return [
        F.when(F.col("plain"), _plain_value(field, index))
        .otherwise(F.expr(f"try_variant_get(document, '$.{field.name}', '{field.type_name}')"))
        .alias(field.name)
        for index, field in enumerate(source.fields)
    ]


def _reason(source: LandingSource, ranges: PlausibleRanges) -> Column:
    """Why a scanned line is quarantined (all its problems joined by "; "), null for a valid
    record or a blank line. The JSON types of a document's fields name the field at fault."""
    json_object = F.col("line").rlike(r"^[ \t\r\n]*\{")
    field_problems = [
        _field_problem(
            field,
            F.expr(f"schema_of_variant(variant_get(document, '$.{field.name}'))"),
            F.col(field.name),
        )
        for field in source.fields
    ]
    record_problems = _record_problems(source, ranges)
    return (
        F.when(F.col(_REFUSED).isNotNull(), F.col(_REFUSED))
        .when(F.col("blank"), F.lit(None))
        .when(F.col("plain"), _joined(record_problems))
        .when(F.col("document").isNull(), F.lit("not valid JSON"))
        .when(~json_object, F.lit("not a JSON object"))
        .when(~_ends_with_its_object(F.col("line")), F.lit("text after the JSON object"))
        .otherwise(F.coalesce(_joined(field_problems), _joined(record_problems)))
    )


def parse_landing(
    lines: DataFrame,
    source: LandingSource,
    ranges: PlausibleRanges,
    keep_valid_lines: bool,
    erased: ErasedHashes | None = None,
) -> DataFrame:
    """Parse landing lines into the source's typed columns, with a `reason` for every bad line.

    Output: `source_file`, the line's place in the scan (for `FileSplits.numbered`), `line`, `blank`
    (ignored lines), `reason` (null for a valid record; all the line's problems joined by "; "),
    `erased` (a line of a person the erasure log names, `erased`) and one typed column per field.
    `line` is kept for quarantined lines, and for valid ones only when `keep_valid_lines`.
    Plain records (see `plain_record_pattern`) skip the JSON parser; every other line is
    parsed once into a VARIANT, whose JSON types name the field and type at fault.
    """
    parsed = _scanned(lines, source)
    typed = _typed_values(source)
    reason = _reason(source, ranges)
    checked = (
        parsed.select(
            "source_file", *_LINE_POSITION, "line", "blank", _REFUSED, "plain", "document", *typed
        )
        .select(
            "source_file",
            *_LINE_POSITION,
            "line",
            "blank",
            _REFUSED,
            reason.cast("string").alias("reason"),
            _future_time(source, ranges).alias(FUTURE_TIME),
            *source.columns,
        )
        .transform(lambda rows: _with_erased(rows, source, erased))
        .drop(_REFUSED)
    )
    if keep_valid_lines:
        return checked
    return checked.withColumn("line", F.when(F.col("reason").isNotNull(), F.col("line")))


def load_landing(
    spark: SparkSession,
    files: Sequence[str],
    source: LandingSource,
    ranges: PlausibleRanges,
    keep_valid_lines: bool = False,
    erased: ErasedHashes | None = None,
) -> DataFrame:
    """Read and parse landing files (URIs, `read_landing_lines`) once; the result is cached for
    the table, its quarantine and its accounting, which all read it. Each line keeps its place
    in the scan: `summarize_splits` and `FileSplits.numbered` give the line numbers (the
    quarantine's). Lines of people the erasure log names are marked `erased`.

    No file (an increment that adds none) gives an empty relation, not cached: Spark's optimizer
    carries it through every join and aggregate, so no job reads what the lines would meet."""
    lines = read_landing_lines(spark, files)
    parsed = parse_landing(lines, source, ranges, keep_valid_lines, erased)
    return parsed.persist() if files else parsed
