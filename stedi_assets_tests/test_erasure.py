"""Erasure: a customer's request removes them from every zone, and after the vacuum no file
under the lake root (landing, tables, Delta logs, checkpoints) holds their email or their
device's serial number; every other customer's rows are unchanged; a later record of theirs
counts as no consent. (The erased lake is the session's `erased_lake`, see `erased_lake.py`.)"""

import bz2
import gzip
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets.erasure.matching import ErasedPeople, email_hash, searchable, without_erased
from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.storage import delta_tables
from stedi_assets_tests.erased_lake import ALL_TABLES, SALT, ErasedLake, mentions
from stedi_assets_tests.lakes import (
    dagster_home,
    files_containing,
    materialize_lake,
    materialize_with_cli,
    read_rows,
    stedi_command,
)


@pytest.mark.slow
def test_no_byte_of_the_customer_is_left_under_the_lake_root(erased_lake: ErasedLake) -> None:
    lake, email, serial = erased_lake.lake, erased_lake.email, erased_lake.serial
    assert files_containing(lake, [email, serial]) == {}
    assert any((lake / "customer/trusted/_delta_log").iterdir())


@pytest.mark.slow
def test_other_customers_rows_are_unchanged(erased_lake: ErasedLake) -> None:
    email, serial = erased_lake.email, erased_lake.serial
    for path in ALL_TABLES:
        expected = [row for row in erased_lake.before[path] if not mentions(row, email, serial)]
        assert erased_lake.after[path] == expected, path
        assert expected, path


@pytest.mark.slow
def test_the_log_and_the_run_hold_a_hash_not_the_email(
    erased_lake: ErasedLake, spark: SparkSession
) -> None:
    lake, email, result = erased_lake.lake, erased_lake.email, erased_lake.result
    (entry,) = spark.read.format("delta").load(str(lake / "erasure/log")).collect()
    assert entry["email_hash"] == email_hash(email, SALT)
    assert entry["landing_lines_removed"] > 0 and entry["table_rows_removed"] > 0
    assert email not in json.dumps(result.dagster_run.run_config).lower()


@pytest.mark.slow
def test_a_later_record_of_an_erased_customer_is_dropped_as_erased(
    erased_lake: ErasedLake, spark: SparkSession
) -> None:
    """(Runs again over the shared lake: tests that read it after the erasure use
    `erased_lake.after`.)"""
    lake, email, serial = erased_lake.lake, erased_lake.email, erased_lake.serial
    record = {
        "customerName": "Back Again",
        "email": email.upper(),
        "serialNumber": serial,
        "lastUpdateDate": 1_700_000_000_000,
        "shareWithResearchAsOfDate": 1_600_000_000_000,
    }
    (lake / "customer/landing/later.json").write_text(json.dumps(record) + "\n")
    assert materialize_lake(lake, spark, erasure_salt=SALT).success
    emails = {row[0] for row in read_rows(spark, lake / "customer/trusted", ["email"])}
    assert email not in emails and emails
    for path in ALL_TABLES:  # not in any table, not even the parsed records or the quarantine
        assert not any(mentions(row, email, serial) for row in read_rows(spark, lake / path))
    commit = delta_tables.latest_commit(spark, str(lake / "customer/trusted"))
    record_ = BuildRecord.from_json(commit[1] if commit else None)
    assert record_ is not None and record_.accounting is not None
    assert record_.accounting["erased"] == 1


def test_the_cli_prints_the_hash_the_job_takes() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "stedi_assets", "erase", " Ann@X.com ", "--print-hash"],
        env={**os.environ, "STEDI_ERASURE_SALT": SALT},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == email_hash("ann@x.com", SALT)


PEOPLE = ErasedPeople(SALT, frozenset([email_hash("ann@example.com", SALT)]), frozenset(["S-9"]))


def test_the_matcher_judges_any_line_and_decodes_escapes() -> None:
    """Nothing parses a whole line: a line nested 100,000 deep is judged (Python's JSON parser
    would exhaust its recursion), and an email written with escapes is found decoded."""
    assert not PEOPLE.mentioned_in("[" * 100_000 + "]" * 100_000)
    assert PEOPLE.mentioned_in('{"user":"ann@ex\\u0061mple.com","timestamp":"late"}')
    assert PEOPLE.mentioned_in('{"note": "write to Ann@Example.com ", "x": 1}')
    assert PEOPLE.mentioned_in('{"email": "  ANN@example.com\\t"}')
    assert PEOPLE.mentioned_in('{"sensorReadingTime": 1, "serialNumber": S-9}')
    assert not PEOPLE.mentioned_in('{"user":"bob@example.com","x":"\\ud800"}')


def test_landing_files_compressed_as_spark_reads_them_are_rewritten_or_named() -> None:
    lines = b'{"user":"ann@example.com","timestamp":1}\n{"user":"bob@x.com","timestamp":1}\n'
    for name, compress, decompress in [
        ("a.json.gz", gzip.compress, gzip.decompress),
        ("a.json.bz2", bz2.compress, bz2.decompress),
        ("a.json.deflate", zlib.compress, zlib.decompress),
    ]:
        content, removed = without_erased(name, compress(lines), PEOPLE)
        assert removed == 1, name
        assert decompress(content) == b'{"user":"bob@x.com","timestamp":1}\n', name
    assert [searchable(name) for name in ("a.json.zst", "a.json.lz4", "a.snappy", "a.json")] == [
        False,
        False,
        False,
        True,
    ]


@pytest.mark.slow
def test_no_plan_holds_the_salt_an_email_or_a_serial_number(
    erased_lake: ErasedLake, tmp_path: Path
) -> None:
    """Spark's UI and event log show every query's plan: the erasure and the runs after it pass
    the salt and the hashes as data, so no plan of theirs holds the salt, the erased email or
    the serial number only they carried (read from Spark's event log, which records the plans
    the UI shows)."""
    lake, events = tmp_path / "lake", tmp_path / "events"
    shutil.copytree(erased_lake.pristine, lake)
    events.mkdir()
    environment = {
        "STEDI_LAKE": str(lake),
        "STEDI_ERASURE_SALT": SALT,
        "STEDI_SPARK_MASTER": "local[2]",
        "STEDI_SPARK_CONF": f"spark.eventLog.enabled=true spark.eventLog.dir={events} "
        "spark.eventLog.compress=false",
    }
    home = dagster_home(tmp_path / "home")
    materialize_with_cli(lake, home, **environment)
    erased = stedi_command("erase", erased_lake.email, "--vacuum-now", **environment)
    assert erased.returncode == 0, erased.stderr[-3000:]
    for pristine in (erased_lake.pristine / "customer/landing").iterdir():  # delivered again
        (lake / "customer/landing" / f"again-{pristine.name}").write_bytes(pristine.read_bytes())
    materialize_with_cli(lake, home, **environment)
    assert len(list(events.iterdir())) >= 3  # two runs and the erasure
    plans = "".join(log.read_text() for log in events.rglob("*") if log.is_file())
    assert "sha2" in plans  # the hashing is in them
    assert files_containing(events, [SALT, erased_lake.email, erased_lake.serial]) == {}
