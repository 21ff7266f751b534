"""`make bench-huge`'s changes are what its table says: every new reading passes the contract
and reaches accelerometer_trusted, and every withdrawal removes a consenting customer, checked
with the DuckDB contract (itself checked against the reference). No Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from stedi_assets.tools.sample_data import write_sample_landing

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))  # run_huge imports run.py beside it, as a script does

import run_huge  # noqa: E402
from duckdb_contract import run_contract  # noqa: E402


def rows(out: Path, table: str, columns: str) -> set[tuple]:
    with duckdb.connect() as con:
        return set(
            con.sql(f"SELECT {columns} FROM read_parquet('{out / table}.parquet')").fetchall()
        )


def test_the_fixed_changes_pass_the_contract_and_change_what_they_say(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, 60, 11)
    before = run_contract(lake, tmp_path / "before")
    written = run_huge.readings_a_day_later_file(
        tmp_path / "before", lake / "accelerometer" / "landing" / "next-day.json", count=50
    )
    withdrawn = run_huge.withdrawn_consents_file(
        tmp_path / "before", lake / "customer" / "landing" / "withdrawn.json", count=5
    )
    after = run_contract(lake, tmp_path / "after")

    assert (written, withdrawn) == (50, 5)
    quarantines = [name for name in before if name.endswith("_quarantine")]
    assert quarantines and all(after[name] == before[name] for name in quarantines)
    consenting = rows(tmp_path / "before", "customer_trusted", "email")
    still = rows(tmp_path / "after", "customer_trusted", "email")
    gone = {email for (email,) in consenting - still}
    assert len(gone) == 5 and still < consenting
    readings_before = rows(tmp_path / "before", "accelerometer_trusted", '"user", "timestamp"')
    readings_after = rows(tmp_path / "after", "accelerometer_trusted", '"user", "timestamp"')
    new = {(user, time + run_huge.ONE_DAY_MS) for user, time in sorted(readings_before)[:50]}
    assert not new & readings_before
    assert {r for r in new if r[0] not in gone} <= readings_after
    assert {r for r in new if r[0] in gone} and not {r for r in readings_after if r[0] in gone}


def test_the_next_days_readings_are_all_kept_and_later_than_every_reading(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, 60, 11)
    run_contract(lake, tmp_path / "before")
    written = run_huge.following_day_readings_file(
        tmp_path / "before", lake / "accelerometer" / "landing" / "following-day.json", count=50
    )
    run_contract(lake, tmp_path / "after")

    readings_before = rows(tmp_path / "before", "accelerometer_trusted", '"user", "timestamp"')
    readings_after = rows(tmp_path / "after", "accelerometer_trusted", '"user", "timestamp"')
    new = readings_after - readings_before
    latest = max(time for _, time in readings_before)
    assert written == len(new) == 50
    assert all(latest + run_huge.ONE_DAY_MS <= time < latest + 2 * run_huge.ONE_DAY_MS
               for _, time in new)  # fmt: skip


def test_a_full_build_only_section_has_no_comparison_table() -> None:
    """`--full-build-only` compares nothing with DuckDB: its section has no empty table."""
    built = run_huge.HugeResult(1000, project=run_huge.Measurement(1893.1, 9 * 2**30, 8 * 2**30))
    compared = run_huge.HugeResult(10, differences={"customer_trusted": (0, 0)})

    assert "against DuckDB" not in run_huge.section("cmd", [built])
    assert "| 10x | customer_trusted | 0 / 0 | not run |" in run_huge.section(
        "cmd", [built, compared]
    )
