"""`make bench-ui`: how soon a few hundred new readings reach the data scientists under `make ui`.

Starts `stedi ui` as `make ui` does (the webserver and daemon of `dg dev`, its runs clients of a
warm Spark Connect server) on the demo lake (1,000 sample customers, seed 42) with the landing
sensor listing every `--interval` seconds, and lets the sensor's first run build every table.
Then, round after round, it lands one new step-trainer file and one new accelerometer file: a
few hundred device readings and the phone readings taken at the same milliseconds (readings of
`machine_learning_curated` as DuckDB's exact contract computes it, a second or more later, at
times no reading had); or, with `--change consents`, one customer file withdrawing the consent
of 10 curated customers (1 % of the lake's). It times from the run's records:

- landing → request: the sensor noticing the files (at most one interval);
- request → start: the run's process starting and loading the definitions;
- request → published: the run request until `machine_learning_curated`'s new version is
  committed (the target: at most 20 s);
- the run from start to end, each of its steps, and the rows it added to (or removed from)
  `machine_learning_curated` (read with the `deltalake` reader, no second Spark).

    python benchmarks/run_ui.py [--change readings|consents] [--rounds 5] [--pairs 300]
        [--interval 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import deltalake
import duckdb
from duckdb_contract import run_contract
from run import (
    ROOT,
    free_port,
    machine,
    with_consent_flipped,
    write_landing_file,
    write_section,
)

SENSOR_TAG = {"dagster/sensor_name": "landing_files_sensor"}
CURATED = "machine_learning_curated"
CURATED_PATH = "step_trainer/curated"
DEMO_CUSTOMERS = 1_000
WITHDRAWN_PER_ROUND = 10
TARGET_SECONDS = 20.0


@dataclass
class Round:
    """One new pair of files and the run the sensor requested for them (seconds)."""

    landed_to_request: float
    request_to_start: float
    request_to_published: float
    run_seconds: float
    rows_added: int
    steps: dict[str, float]
    """Seconds from each step's start to its success, by step (asset) name."""


def paired_readings(exact: Path, pairs: int, shift_ms: int) -> tuple[list[dict], list[dict]]:
    """`pairs` rows of DuckDB's exact `machine_learning_curated` (in `exact`) as the device
    readings and phone readings they were joined from, `shift_ms` later, at times no trusted
    reading had: lines that pass the contract, of consenting customers, that pair up again."""
    query = f"""
        WITH owners AS (
            SELECT serialNumber, any_value(email) AS email FROM read_parquet('{exact}/customer_trusted.parquet')
            GROUP BY serialNumber HAVING count(*) = 1
        ), taken AS (
            SELECT timestamp AS moment FROM read_parquet('{exact}/accelerometer_trusted.parquet')
            UNION SELECT sensorReadingTime FROM read_parquet('{exact}/step_trainer_trusted.parquet')
        )
        SELECT m.sensorReadingTime + {shift_ms}, m.serialNumber, m.distanceFromObject,
            o.email, m.x, m.y, m.z
        FROM read_parquet('{exact}/machine_learning_curated.parquet') m JOIN owners o USING (serialNumber)
        WHERE m.sensorReadingTime + {shift_ms} NOT IN (SELECT moment FROM taken)
        ORDER BY m.sensorReadingTime, m.serialNumber LIMIT {pairs}
    """  # noqa: E501 - SQL reads best a statement to a line
    with duckdb.connect() as connection:
        rows = connection.sql(query).fetchall()
    devices = [
        {"sensorReadingTime": moment, "serialNumber": serial, "distanceFromObject": distance}
        for moment, serial, distance, *_ in rows
    ]
    phones = [
        {"user": email, "timestamp": moment, "x": x, "y": y, "z": z}
        for moment, _, _, email, x, y, z in rows
    ]
    return devices, phones


def withdrawals(exact: Path, count: int, offset: int) -> list[dict]:
    """The records of `count` curated customers (DuckDB's exact `customers_curated` in `exact`,
    by email from `offset`) again, a millisecond later, their consent withdrawn: every table
    changes (the customers' readings and training pairs leave the lake)."""
    query = f"""
        SELECT * FROM read_parquet('{exact}/customers_curated.parquet')
        ORDER BY email LIMIT {count} OFFSET {offset}
    """
    with duckdb.connect() as connection:
        result = connection.sql(query)
        records = [dict(zip(result.columns, row, strict=True)) for row in result.fetchall()]
    return [with_consent_flipped(record) for record in records]


def land(lake: Path, source: str, name: str, records: list[dict]) -> None:
    """Write a landing file whole, then move it into place: the sensor never lists half a file."""
    staging = lake / f".{name}"
    write_landing_file(staging, records)
    staging.rename(lake / source / "landing" / name)


def curated_rows(lake: Path) -> int:
    uri = lake / CURATED_PATH
    if not (uri / "_delta_log").exists():
        return 0
    return deltalake.DeltaTable(str(uri)).to_pyarrow_dataset().count_rows()


def sensor_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    return list(instance.get_run_records(dg.RunsFilter(tags=SENSOR_TAG)))


def wait_for_new_run(
    instance: dg.DagsterInstance, seen: set[str], ui: subprocess.Popen, timeout: float
) -> dg.RunRecord:
    """The first sensor run not in `seen`, once it has finished (successfully)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ui.poll() is not None:
            raise RuntimeError(f"`stedi ui` exited with {ui.returncode}")
        for record in sensor_runs(instance):
            run = record.dagster_run
            if run.run_id in seen or not run.is_finished:
                continue
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise RuntimeError(f"run {run.run_id} ended {run.status.value}")
            return record
        time.sleep(0.5)
    raise TimeoutError(f"no new sensor run finished within {timeout:.0f} s")


def event_time(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> float:
    entries = instance.all_logs(run_id, of_type=kind)
    if not entries:
        raise RuntimeError(f"run {run_id} has no {kind.value} event")
    return entries[-1].timestamp


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from each step's start to its success."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=kinds):
        step = entry.step_key or ""
        if entry.dagster_event_type == dg.DagsterEventType.STEP_START:
            started[step] = entry.timestamp
        elif step in started:
            seconds[step] = entry.timestamp - started[step]
    return seconds


def published_time(instance: dg.DagsterInstance, run_id: str) -> float:
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        if entry.asset_materialization and entry.asset_materialization.asset_key == dg.AssetKey(
            CURATED
        ):
            return entry.timestamp
    raise RuntimeError(f"run {run_id} did not materialize {CURATED}")


@contextlib.contextmanager
def stedi_ui(lake: Path, home: Path, interval: int, log: Path) -> Iterator[subprocess.Popen]:
    """`make ui`'s command on free ports, over `lake`, recording into `home`."""
    home.mkdir(parents=True, mode=0o700)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "STEDI_LAKE": str(lake),
        "STEDI_SENSOR_INTERVAL": str(interval),
    }
    environment.pop("STEDI_SPARK_REMOTE", None)
    command = [
        str(Path(sys.executable).parent / "stedi"), "ui",
        "--port", str(free_port()), "--spark-port", str(free_port()),
    ]  # fmt: skip
    with open(log, "w") as output:
        ui = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield ui
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            ui.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # code servers may outlive dg dev
            os.killpg(ui.pid, signal.SIGKILL)


def one_round(
    instance: dg.DagsterInstance,
    ui: subprocess.Popen,
    lake: Path,
    exact: Path,
    number: int,
    change: str,
    pairs: int,
) -> Round:
    seen = {record.dagster_run.run_id for record in sensor_runs(instance)}
    before = curated_rows(lake)
    if change == "consents":
        customers = withdrawals(exact, WITHDRAWN_PER_ROUND, (number - 1) * WITHDRAWN_PER_ROUND)
        land(lake, "customer", f"withdrawn-{number}.json", customers)
        what = f"{len(customers)} customers withdrew their consent"
    else:
        devices, phones = paired_readings(exact, pairs, shift_ms=number * 1_001)
        land(lake, "step_trainer", f"new-devices-{number}.json", devices)
        land(lake, "accelerometer", f"new-phones-{number}.json", phones)
        what = f"{len(devices)} device and {len(phones)} phone readings"
    landed = time.time()
    record = wait_for_new_run(instance, seen, ui, timeout=600)
    run_id = record.dagster_run.run_id
    requested = record.create_timestamp.timestamp()
    started = event_time(instance, run_id, dg.DagsterEventType.RUN_START)
    ended = event_time(instance, run_id, dg.DagsterEventType.RUN_SUCCESS)
    result = Round(
        landed_to_request=requested - landed,
        request_to_start=started - requested,
        request_to_published=published_time(instance, run_id) - requested,
        run_seconds=ended - started,
        rows_added=curated_rows(lake) - before,
        steps=step_seconds(instance, run_id),
    )
    print(f"round {number}: {what}: {result}", flush=True)
    return result


def rounds_table(rounds: list[Round], target: bool = True) -> str:
    """The rounds, their median and maximum from request to published, and (with `target`,
    for new readings) whether they met the target."""
    lines = [
        "| round | landing → run request, s | request → run start, s | request → "
        f"`{CURATED}` published, s | run, start to end, s | rows added | steps, s |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for number, r in enumerate(rounds, start=1):
        steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in r.steps.items())
        lines.append(
            f"| {number} | {r.landed_to_request:.1f} | {r.request_to_start:.1f} | "
            f"{r.request_to_published:.1f} | {r.run_seconds:.1f} | {r.rows_added:,} | {steps} |"
        )
    median = statistics.median(r.request_to_published for r in rounds)
    worst = max(r.request_to_published for r in rounds)
    verdict = "met" if worst <= TARGET_SECONDS else "missed"
    aim = f" (target ≤ {TARGET_SECONDS:.0f} s: {verdict})" if target else ""
    lines.append(f"\nRequest → published: median {median:.1f} s, at most {worst:.1f} s{aim}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--change", choices=("readings", "consents"), default="readings")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=300, help="device readings per new file")
    parser.add_argument("--interval", type=int, default=10, help="the sensor's interval, s")
    parser.add_argument("--keep", type=Path, help="a folder for the lake and logs (kept)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="stedi-bench-ui-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lake, home = work / "lake", work / "dagster_home"
    stedi = str(Path(sys.executable).parent / "stedi")
    subprocess.run(
        [stedi, "sample-data", "--customers", str(DEMO_CUSTOMERS), "--seed", "42",
         "--out", str(lake)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    exact = work / "exact"
    run_contract(lake, exact)  # DuckDB: the rows the new files are made of
    with stedi_ui(lake, home, args.interval, work / "stedi-ui.log") as ui:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            first = wait_for_new_run(instance, set(), ui, timeout=900)
            print(f"first run (every table): {first.dagster_run.run_id}", flush=True)
            rounds = [
                one_round(instance, ui, lake, exact, number, args.change, args.pairs)
                for number in range(1, args.rounds + 1)
            ]
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    policy = os.environ.get("STEDI_INCREMENT_MIN_ROWS")
    setting = f"STEDI_INCREMENT_MIN_ROWS={policy} " if policy is not None else ""
    command = f"{setting}python benchmarks/run_ui.py {' '.join(sys.argv[1:])}".strip()
    section = (
        f"## `{command}`\n\n"
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        f"Under `make ui` on the demo lake ({DEMO_CUSTOMERS:,} customers), the sensor listing "
        f"every {args.interval} s: {_what_each_round_lands(args)}.\n\n"
        + rounds_table(rounds, target=args.change == "readings")
        + "\n"
    )
    write_section(ROOT / "benchmarks" / "results.md", command, section)
    print("\n" + rounds_table(rounds, target=args.change == "readings"))


def _what_each_round_lands(args: argparse.Namespace) -> str:
    if args.change == "consents":
        return (
            f"each round lands a customer file withdrawing the consent of "
            f"{WITHDRAWN_PER_ROUND} curated customers"
        )
    return (
        f"each round lands {args.pairs} device readings and the phone readings at the same "
        "milliseconds as two new files"
    )


if __name__ == "__main__":
    main()
