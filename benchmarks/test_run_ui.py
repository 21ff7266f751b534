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


def reading_times(out: Path) -> set[int]:
    with duckdb.connect() as con:
        table = f"read_parquet('{out / 'machine_learning_curated'}.parquet')"
        return {time for (time,) in con.sql(f"SELECT sensorReadingTime FROM {table}").fetchall()}


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


def test_the_table_says_whether_the_target_was_met() -> None:
    quick = run_ui.Round(9.0, 3.0, 12.0, 10.0, 250)
    slow = run_ui.Round(9.0, 3.0, 25.0, 22.0, 250)
    assert "target ≤ 20 s: met" in run_ui.rounds_table([quick, quick])
    assert "at most 25.0 s (target ≤ 20 s: missed)" in run_ui.rounds_table([quick, slow])
