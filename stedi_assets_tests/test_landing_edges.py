"""Landing files as a real bucket produces them: rewritten in place with the same size and time,
named with glob characters, hidden by a writer's convention, landing while a run reads, and an
erased person's data delivered again. After every run the lake equals the reference's.

Each test runs the asset graph on a small hand-made lake (real Spark, Delta and Dagster)."""

import bz2
import json
import os
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.contract import landing
from stedi_assets.storage.landing_store import FolderLandingStore
from stedi_assets_tests.conftest import Clock, LandingWriter
from stedi_assets_tests.erased_lake import ALL_TABLES, SALT, erase
from stedi_assets_tests.lakes import (
    HAND_MADE_TIMES,
    TABLE_PATHS,
    assert_lake_is,
    materialize_lake,
    read_rows,
)
from stedi_assets_tests.reference_contract import compute_expected
from stedi_assets_tests.test_sensors import Sensor


def customer(email: str, serial: str, updated: int, consent: int | None) -> dict:
    return {
        "customerName": "Someone",
        "email": email,
        "serialNumber": serial,
        "lastUpdateDate": updated,
        "shareWithResearchAsOfDate": consent,
    }


def reading(user: str, timestamp: int, x: float = 1.0) -> dict:
    return {"user": user, "timestamp": timestamp, "x": x, "y": 2.0, "z": 3.0}


def device(serial: str, time: int) -> dict:
    return {"sensorReadingTime": time, "serialNumber": serial, "distanceFromObject": 7}


def text_of(lines: list[Any]) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def run(lake: Path, spark: SparkSession, **options: Any) -> dg.ExecuteInProcessResult:
    result = materialize_lake(lake, spark, erasure_salt=SALT, **HAND_MADE_TIMES, **options)
    assert result.success
    return result


def assert_equals_reference(spark: SparkSession, lake: Path, **erased: Any) -> None:
    """Every table, quarantine and accounting is the reference's, for the files as they are."""
    assert_lake_is(spark, lake, compute_expected(lake, earliest_time_ms=0, **erased))


def padded(record: dict) -> str:
    """A record with room after it (spaces, which JSON allows) for a longer one later."""
    return json.dumps(record) + " " * 8


def rewrite_keeping_size_and_time(path: Path, lines: list[Any], modified_ns: int) -> None:
    """What `cp -p` of a file of the same length does: new bytes, the old size, the given
    modification time (padded with spaces, which JSON allows after an object)."""
    size = path.stat().st_size
    text = text_of(lines)
    assert len(text) <= size, "the new content must fit in the old size"
    path.write_text(text[:-1] + " " * (size - len(text)) + "\n")
    os.utime(path, ns=(modified_ns, modified_ns))
    assert path.stat().st_size == size and path.stat().st_mtime_ns == modified_ns


@pytest.mark.slow
def test_a_file_replaced_with_the_same_size_and_modification_time_is_read_again(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """A withdrawal copied over a customer file with `cp -p` (same length, modification time
    put back) and a phone file rewritten within the same millisecond: the run sees both."""
    customers = write_landing(
        "customer",
        "customers.json",
        [padded(customer("ann@x.com", "S1", 1, 1)), customer("bob@x.com", "S2", 1, 1)],
    )
    phones = write_landing(
        "accelerometer", "phones.json", [reading("ann@x.com", 5), reading("bob@x.com", 5)]
    )
    write_landing("step_trainer", "devices.json", [device("S1", 5), device("S2", 5)])
    millisecond = 1_700_000_000_000 * 1_000_000
    os.utime(customers, ns=(millisecond, millisecond))
    os.utime(phones, ns=(millisecond + 100, millisecond + 100))
    run(lake_root, spark)
    assert len(read_rows(spark, lake_root / "step_trainer/curated")) == 2

    rewrite_keeping_size_and_time(
        customers,
        [customer("ann@x.com", "S1", 1, None), customer("bob@x.com", "S2", 1, 1)],
        millisecond,
    )
    run(lake_root, spark)
    assert [row[0] for row in read_rows(spark, lake_root / "customer/trusted", ["email"])] == [
        "bob@x.com"
    ]
    assert_equals_reference(spark, lake_root)

    # Rewritten 200 ns later: the same millisecond, as Spark's listing would show it.
    rewrite_keeping_size_and_time(
        phones, [reading("ann@x.com", 5), reading("bob@x.com", 5, x=9.0)], millisecond + 300
    )
    run(lake_root, spark)
    assert read_rows(spark, lake_root / "accelerometer/trusted", ["x"]) == [(9.0,)]
    assert_equals_reference(spark, lake_root)


GLOB_NAMES = ["x[1].json", "x1.json", "r*.json", "r?.json", "{a,b}.json", "b.json", "a b+c%20.json"]
"""Names Spark's reader would expand as globs (`x[1].json` reads `x1.json`, `r*.json` every
`r…` file, `{a,b}.json` both), beside the names they would match."""


@pytest.mark.slow
def test_files_named_with_glob_characters_are_read_as_named(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """In a full build and in increments: every file is read once, as itself."""
    write_landing("customer", "customers[0].json", [customer("ann@x.com", "S1", 1, 1)])
    write_landing("step_trainer", "devices{0}.json", [device("S1", 5)])
    for index, name in enumerate(GLOB_NAMES[:4]):
        write_landing("accelerometer", name, [reading("ann@x.com", 5 + index), "{broken"])
    run(lake_root, spark)
    assert_equals_reference(spark, lake_root)

    for index, name in enumerate(GLOB_NAMES[4:]):
        write_landing("accelerometer", name, [reading("ann@x.com", 50 + index), "{broken"])
    write_landing("step_trainer", "devices*.json", [device("S1", 51)])
    run(lake_root, spark)
    assert_equals_reference(spark, lake_root)

    # A withdrawal in a file named like a glob: the increment reads it and applies it.
    write_landing("customer", "customer-0050[1].json", [customer("ann@x.com", "S1", 2, None)])
    run(lake_root, spark)
    assert read_rows(spark, lake_root / "customer/trusted") == []
    assert read_rows(spark, lake_root / "step_trainer/curated") == []
    assert_equals_reference(spark, lake_root)


@pytest.mark.slow
def test_hidden_files_follow_one_rule_for_the_sensor_the_build_and_the_reference(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """A copy in progress (`._COPYING_`), names starting with `_` (even `_metadata…` and
    `_key=value`, which Spark alone would read) or `.`: no one reads them."""
    write_landing("customer", "customers.json", [customer("ann@x.com", "S1", 1, 1)])
    write_landing("step_trainer", "devices.json", [device("S1", 5)])
    write_landing("accelerometer", "phones.json", [reading("ann@x.com", 5)])
    for index, name in enumerate(
        ["more.json._COPYING_", "_metadata.json", "_day=2.json", ".phones.json", "_SUCCESS"]
    ):
        write_landing("accelerometer", name, [reading("ann@x.com", 10 + index), "{broken"])
    listed = FolderLandingStore(lake_root).list_files("accelerometer")
    assert [file.name for file in listed] == ["phones.json"]
    run(lake_root, spark)
    assert read_rows(spark, lake_root / "accelerometer/trusted", ["timestamp"]) == [(5,)]
    assert_equals_reference(spark, lake_root)


@pytest.mark.slow
def test_a_file_that_lands_while_a_full_build_reads_is_read_by_the_next_run_only(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """The build reads exactly the files it listed (and recorded); one that lands between
    the listing and the read is the next run's new file, its lines counted once."""
    write_landing("customer", "customers.json", [customer("ann@x.com", "S1", 1, 1)])
    write_landing("step_trainer", "devices.json", [device("S1", 5)])
    write_landing("accelerometer", "phones.json", [reading("ann@x.com", 5)])
    reader, landed = landing.read_landing_lines, []

    def a_file_lands_first(spark: SparkSession, files: Any) -> Any:
        if not landed and "accelerometer" in str(files):
            landed.append(
                write_landing("accelerometer", "late.json", [reading("ann@x.com", 6), "{late"])
            )
        return reader(spark, files)

    with mock.patch.object(landing, "read_landing_lines", a_file_lands_first):
        run(lake_root, spark)
    assert landed
    assert read_rows(spark, lake_root / "accelerometer/trusted", ["timestamp"]) == [(5,)]
    run(lake_root, spark)
    assert read_rows(spark, lake_root / "accelerometer/trusted", ["timestamp"]) == [(5,), (6,)]
    assert_equals_reference(spark, lake_root)


@pytest.mark.slow
def test_compressed_files_the_contract_does_not_read_are_one_quarantined_entry_each(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """Spark would decompress `.bz2` and `.deflate`; the contract reads plain and gzip files
    only (so does the erasure), and says so for each other file, line 0."""
    write_landing("customer", "customers.json", [customer("ann@x.com", "S1", 1, 1)])
    write_landing("step_trainer", "devices.json", [device("S1", 5)])
    folder = write_landing("accelerometer", "phones.json", [reading("ann@x.com", 5)]).parent
    phones = text_of([reading("ann@x.com", 6)]).encode()
    (folder / "more.json.bz2").write_bytes(bz2.compress(phones))
    (folder / "more.json.deflate").write_bytes(zlib.compress(phones))
    run(lake_root, spark)
    quarantine = spark.read.format("delta").load(str(lake_root / "accelerometer/quarantine"))
    assert sorted(
        (Path(row.source_file).name, row.line_number, row.line, row.reason.split(";")[0])
        for row in quarantine.collect()
    ) == [
        ("more.json.bz2", 0, None, "file not read: compressed as .bz2"),
        ("more.json.deflate", 0, None, "file not read: compressed as .deflate"),
    ]
    assert_equals_reference(spark, lake_root)


ANN, ANN_SERIAL = "ann@x.com", "S-ANN-1"
ESCAPED_ANN = '{"user":"ann@\\u0078.com","timestamp":"late","x":1,"y":1,"z":1}'
"""A quarantined line naming Ann only once its escapes are decoded."""


def everything_mentioning(spark: SparkSession, lake: Path, needles: list[str]) -> list[str]:
    """Every row of the lake's tables that holds one of `needles`, decoded or escaped."""
    escaped = [needle.replace("x", "\\u0078") for needle in needles]
    found = []
    for path in ALL_TABLES:
        for row in read_rows(spark, lake / path):
            text = " ".join(str(value) for value in row).lower()
            if any(needle.lower() in text for needle in needles + escaped):
                found.append(f"{path}: {row}")
    return found


@pytest.mark.slow
def test_an_erased_persons_data_delivered_again_reaches_no_table(
    spark: SparkSession, lake_root: Path, write_landing: LandingWriter
) -> None:
    """After an erasure, the same landing files delivered again: the person's records, their
    device's readings and their quarantined lines (even one naming them through a JSON escape)
    are dropped when parsed, counted `erased`, and a warning names the files."""
    people = [customer(ANN, ANN_SERIAL, 1, 1), customer("bob@x.com", "S-BOB", 1, 1)]
    phones = [reading(ANN, 5), reading("bob@x.com", 5), ESCAPED_ANN, "[" * 3000 + "]" * 3000]
    devices = [device(ANN_SERIAL, 5), device("S-BOB", 5), f'{{"serialNumber": {ANN_SERIAL}}}']
    pristine = {"customer": people, "accelerometer": phones, "step_trainer": devices}
    for source, lines in pristine.items():
        write_landing(source, f"{source}.json", lines)
    run(lake_root, spark)
    assert everything_mentioning(spark, lake_root, [ANN, ANN_SERIAL])

    assert erase(lake_root, ANN).success
    assert everything_mentioning(spark, lake_root, [ANN, ANN_SERIAL]) == []
    for source, lines in pristine.items():
        write_landing(source, f"{source}-again.json", lines)
    result = run(lake_root, spark)

    assert everything_mentioning(spark, lake_root, [ANN, ANN_SERIAL]) == []
    assert_equals_reference(
        spark, lake_root, erased=frozenset([ANN]), erased_serials=frozenset([ANN_SERIAL])
    )
    for table, erased_lines in [
        ("customer_trusted", 1),
        ("accelerometer_trusted", 2),
        ("step_trainer_trusted", 2),
    ]:
        (check,) = [
            evaluation
            for evaluation in result.get_asset_check_evaluations()
            if evaluation.asset_key.to_user_string() == table
            and evaluation.check_name == "no_erased_lines"
        ]
        source = TABLE_PATHS[table].split("/")[0]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        files = check.metadata["files"].value
        assert {Path(name).name: count for name, count in files.items()} == {
            f"{source}-again.json": erased_lines
        }, table


HOUR_MS = 3_600_000


@pytest.mark.slow
def test_a_withdrawal_dated_ahead_is_applied_by_the_sensors_runs_once_the_clock_reaches_it(
    spark: SparkSession,
    lake_root: Path,
    write_landing: LandingWriter,
    clock: Clock,
) -> None:
    """A withdrawal 26 hours ahead (24 allowed) is quarantined. With only the sensor running
    the lake: nothing changes two hours later, the sensor requests the tables that judged it,
    and everything downstream, with any other table a new file feeds."""
    now_ms = clock.now_ms
    instance = dg.DagsterInstance.ephemeral()
    sensor = Sensor(instance, str(lake_root))

    def sensor_run() -> list[str]:
        """A tick, and the run it requests (as the daemon would launch it)."""
        result = sensor.tick()
        assert isinstance(result, dg.SensorResult), getattr(result, "skip_message", result)
        (request,) = result.run_requests
        run(lake_root, spark, selection=request.asset_selection, instance=instance)
        return sorted(key.to_user_string() for key in request.asset_selection)

    write_landing("customer", "customers.json", [customer(ANN, "S1", now_ms - HOUR_MS, 1)])
    write_landing("accelerometer", "phones.json", [reading(ANN, now_ms - HOUR_MS)])
    write_landing("step_trainer", "devices.json", [device("S1", now_ms - HOUR_MS)])
    assert len(sensor_run()) == 5
    ahead = now_ms + 26 * HOUR_MS
    write_landing("customer", "withdrawal.json", [customer(ANN, "S1", ahead, None)])
    assert len(sensor_run()) == 5
    assert len(read_rows(spark, lake_root / "step_trainer/curated")) == 1  # not yet

    clock.now_ms += HOUR_MS  # 25 hours ahead: still implausible
    assert isinstance(sensor.tick(), dg.SkipReason)
    clock.now_ms += HOUR_MS
    write_landing("step_trainer", "more.json", [device("S1", now_ms)])
    assert sensor_run() == sorted(TABLE_PATHS)  # customer_trusted too, not only the devices'
    for path in TABLE_PATHS.values():
        assert read_rows(spark, lake_root / path) == [], path
    assert_equals_reference(spark, lake_root, now_ms=clock.now_ms)
    assert isinstance(sensor.tick(), dg.SkipReason)  # judged: nothing is due any more
