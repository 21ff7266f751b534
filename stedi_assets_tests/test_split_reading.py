"""Landing files are read as lines, a large file split over many tasks, and every line keeps its
exact number: the split read equals the unsplit read and the reference implementation, line by
line (number, text, whether it is quarantined, and its typed values)."""

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets.contract.accounting import quarantined_lines
from stedi_assets.contract.landing import (
    LANDING_SOURCES_BY_NAME,
    LandingSource,
    load_landing,
    number_lines,
    read_landing_lines,
)
from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.tools.sample_data import MIN_FILE_BYTES, write_sample_landing
from stedi_assets_tests.lakes import landing_uris
from stedi_assets_tests.reference_contract import (
    EARLIEST_TIME_MS,
    SOURCES,
    landing_lines,
    parse_line,
)

RANGES = PlausibleRanges.as_of()
TINY_SPLIT_BYTES = 2048  # a 64 KiB landing file becomes about 32 tasks


@contextmanager
def tiny_splits(spark: SparkSession) -> Iterator[None]:
    """Spark splits every uncompressed file into pieces of TINY_SPLIT_BYTES meanwhile."""
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(TINY_SPLIT_BYTES))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def read(spark: SparkSession, folder: Path, source: LandingSource) -> list[tuple]:
    """(file name, line number, line, reason, typed values…) of every line, in file order."""
    parsed = load_landing(spark, landing_uris(folder), source, RANGES, keep_valid_lines=True)
    rows = [
        (
            Path(row["source_file"]).name,
            row["line_number"],
            row["line"],
            row["reason"],
            *(row[name] for name in source.columns),
        )
        for row in number_lines(parsed, parsed).collect()
    ]
    return sorted(rows, key=lambda row: row[:2])


def split_count(spark: SparkSession, folder: Path) -> int:
    return (
        read_landing_lines(spark, landing_uris(folder))
        .select("source_file", "split_start")
        .distinct()
        .count()
    )


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated landing data in small files (a BOM, CRLF lines, blank and malformed lines)."""
    root = tmp_path_factory.mktemp("sample")
    write_sample_landing(root, customers=60, seed=7, max_file_bytes=MIN_FILE_BYTES)
    return root


@pytest.mark.parametrize("source", SOURCES)
def test_split_files_read_exactly_as_whole_files_and_as_the_reference(
    spark: SparkSession, sample_lake: Path, source: str
) -> None:
    folder = sample_lake / source / "landing"
    contract = LANDING_SOURCES_BY_NAME[source]
    whole = read(spark, folder, contract)
    files = len(list(folder.iterdir()))
    with tiny_splits(spark):
        assert split_count(spark, folder) >= 2 * files  # the files really are read in pieces
        split = read(spark, folder, contract)
        parsed = load_landing(spark, landing_uris(folder), contract, RANGES)
        quarantine = sorted(
            (Path(row["source_file"]).name, row["line_number"], row["line"])
            for row in quarantined_lines(parsed).collect()
        )
    assert split == whole

    expected = landing_lines(folder)
    assert [row[:3] for row in split] == expected  # every line, its number and its text
    quarantined = []
    for row, line in zip(split, expected, strict=True):
        if not line[2].strip(" \t\n\v\f\r"):
            assert row[3] is None  # blank: ignored, counted
            continue
        values, reasons = parse_line(source, line[2], EARLIEST_TIME_MS)
        assert (row[3] is not None) == bool(reasons), (row, reasons)
        if values is not None:
            assert row[4:] == tuple(values[name] for name in contract.columns)
        else:
            quarantined.append(line)
    assert quarantined  # the sample data's malformed lines are among them
    assert quarantine == quarantined  # what the quarantine table gets: file, number, line


GOOD = '{"user":"a@b.c","timestamp":1650000000000,"x":1,"y":2.5,"z":-3}'


def handmade_lines(count: int) -> list[str]:
    """Valid readings, blank lines, a lone CR (JSON white space) and bad lines, mixed."""
    kinds = [
        lambda i: GOOD.replace("1650000000000", str(1650000000000 + i)),
        lambda i: "",
        lambda i: "   \t",
        lambda i: GOOD.replace(",", ",\r", 1).replace("1650000000000", str(1650000000000 + i)),
        lambda i: '{"user":"a@b.c","timestamp":"late"}',
        lambda i: GOOD + f" trailing {i}",
    ]
    return [kinds[i % len(kinds)](i) for i in range(count)]


def test_gzip_bom_and_crlf_files_keep_every_line_and_number(
    spark: SparkSession, tmp_path: Path
) -> None:
    lines = handmade_lines(600)
    crlf = "\ufeff" + "".join(line + "\r\n" for line in lines)
    folder = tmp_path / "accelerometer" / "landing"
    folder.mkdir(parents=True)
    (folder / "crlf.json").write_bytes(crlf.encode())
    (folder / "packed.json.gz").write_bytes(gzip.compress(crlf.encode()))
    (folder / "plain.json").write_bytes("".join(line + "\n" for line in lines).encode())
    with tiny_splits(spark):
        assert split_count(spark, folder) > 20  # the uncompressed files are split, not the gzip
        rows = read(spark, folder, LANDING_SOURCES_BY_NAME["accelerometer"])
    for name in ("crlf.json", "packed.json.gz", "plain.json"):
        of_file = [row[1:4] for row in rows if row[0] == name]
        assert [(number, line) for number, line, _ in of_file] == list(enumerate(lines, start=1)), (
            name
        )
        reasons = [reason for _, _, reason in of_file]
        assert reasons[:6] == [
            None,
            None,
            None,
            None,
            "field `timestamp` must be an integer, got STRING; missing required field `x`; "
            "missing required field `y`; missing required field `z`",
            "text after the JSON object",
        ], name
