"""`make bench-ui`'s new files are what its table says: device readings and the phone readings
at the same milliseconds, at times no reading had, that pass the contract and reach
machine_learning_curated (checked with the DuckDB contract, itself checked against the
reference). No Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from stedi_assets.tools.sample_data import write_sample_landing

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))  # run_ui imports run.py beside it, as a script does

import run_ui  # noqa: E402
from duckdb_contract import run_contract  # noqa: E402


def values(out: Path, table: str, column: str) -> set:
    """The distinct values of one column of one of DuckDB's exact tables in `out`."""
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT {column} FROM read_parquet('{out / table}.parquet')").fetchall()
        return {value for (value,) in rows}


def reading_times(out: Path) -> set[int]:
    return values(out, "machine_learning_curated", "sensorReadingTime")


def test_the_new_pairs_pass_the_contract_and_reach_machine_learning_curated(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, 60, 11)
    before = run_contract(lake, tmp_path / "before")
    devices, phones = run_ui.paired_readings(tmp_path / "before", pairs=40, shift_ms=1_001)
    run_ui.land(lake, "step_trainer", "new-devices.json", devices)
    run_ui.land(lake, "accelerometer", "new-phones.json", phones)
    after = run_contract(lake, tmp_path / "after")

    assert len(devices) == len(phones) == 40
    assert [d["sensorReadingTime"] for d in devices] == [p["timestamp"] for p in phones]
    assert not list(lake.glob(".*")), "a staged file was left beside the landing folders"
    quarantines = [name for name in before if name.endswith("_quarantine")]
    assert quarantines and all(after[name] == before[name] for name in quarantines)
    new_times = {d["sensorReadingTime"] for d in devices}
    old, now = reading_times(tmp_path / "before"), reading_times(tmp_path / "after")
    assert not new_times & old
    assert now - old == new_times
    assert after["machine_learning_curated"] == before["machine_learning_curated"] + 40


def curated_emails(out: Path) -> set[str]:
    return values(out, "customers_curated", "email")


def test_a_consent_round_withdraws_curated_customers_and_their_training_pairs(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, 120, 11)
    before = run_contract(lake, tmp_path / "before")
    first = run_ui.withdrawals(tmp_path / "before", count=3, offset=0)
    second = run_ui.withdrawals(tmp_path / "before", count=3, offset=3)
    run_ui.land(lake, "customer", "withdrawn-1.json", first)
    after = run_contract(lake, tmp_path / "after")

    withdrawn = {customer["email"] for customer in first}
    assert len(withdrawn) == 3 and not withdrawn & {c["email"] for c in second}
    assert all(customer["shareWithResearchAsOfDate"] is None for customer in first)
    assert curated_emails(tmp_path / "before") - curated_emails(tmp_path / "after") == withdrawn
    assert after["customers_curated"] == before["customers_curated"] - 3
    assert after["machine_learning_curated"] < before["machine_learning_curated"]


def test_the_table_says_whether_the_target_was_met() -> None:
    steps = {"accelerometer_trusted": 3.9, "machine_learning_curated": 2.5}
    quick = run_ui.Round(9.0, 3.0, 12.0, 10.0, 250, steps)
    slow = run_ui.Round(9.0, 3.0, 25.0, 22.0, 250, steps)
    assert "target ≤ 20 s: met" in run_ui.rounds_table([quick, quick])
    assert "at most 25.0 s (target ≤ 20 s: missed)" in run_ui.rounds_table([quick, slow])
    assert run_ui.rounds_table([quick, slow], target=False).endswith("at most 25.0 s.")
    assert "| accelerometer_trusted 3.9, machine_learning_curated 2.5 |" in run_ui.rounds_table(
        [quick]
    )
