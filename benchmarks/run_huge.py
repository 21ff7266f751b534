"""`make bench-huge`: a million customers on one machine, and what a fixed change costs as the
history grows.

For each size (multiples of the course data; 1000x is about a million customers and 17 GB of
landing JSON), generate the landing data once as a plain export writes it (two large files per
source, with the sample data's faults and a redelivered copy), then, one after the other on the
same files:

1. the project's full build with the default configuration (`dg launch`, every check, Delta);
2. DuckDB's exact contract, and the project's five tables against DuckDB's, row for row;
3. a run with nothing new;
4. the run after one new accelerometer file of the same size at every size: 80,000 trusted
   readings (from DuckDB's exact table, so every line passes the contract and is of a
   consenting customer after consent), each a day later than it was first sent, so their
   times are spread over the whole history (readings that arrive late);
5. the run after a second file of those 80,000 readings, at times in the day after step 4's
   readings end (a day after the latest trusted reading of the full build): the next day's
   readings, arriving in time order;
6. the run after a customer file withdrawing the consent of 1,000 consenting customers;
7. DuckDB's contract again, and the project's tables (grown by increments) against it;
8. the plain PySpark script (`bare_pyspark.py`) on the landing files of step 1, last, since it
   is the longest.

It prints each figure as it comes and rewrites its section of `benchmarks/results.md` after
every size, so a run stopped part-way keeps what it measured. `--full-build-only` runs steps 1
and 8 alone: the project against the plain script, in half the time.

    python benchmarks/run_huge.py [--sizes 1 10 120 1000] [--skip-bare | --full-build-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import duckdb_extension_delta
from run import (  # benchmarks/run.py, beside this script
    COURSE_CUSTOMERS,
    ROOT,
    Measurement,
    benchmark_environment,
    landing_for,
    landing_size,
    machine,
    measure,
    with_consent_flipped,
    write_landing_file,
    write_section,
)

from stedi_assets.tables.catalogue import ZONE_TABLES
from stedi_assets.tools.cli import materialize_command

NEW_READINGS = 80_000
CHANGED_CONSENTS = 1_000
ONE_DAY_MS = 86_400_000
DUCKDB_DELTA = next(Path(duckdb_extension_delta.__file__).parent.glob("extensions/*/delta.*"))


@dataclass
class HugeResult:
    multiple: int
    lines: int = 0
    json_bytes: int = 0
    largest_file_bytes: int = 0
    project: Measurement | None = None
    duckdb: Measurement | None = None
    differences: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per table, rows only in the project's and rows only in DuckDB's, after the full build."""
    nothing_new: Measurement | None = None
    new_file: Measurement | None = None
    next_day: Measurement | None = None
    consents: Measurement | None = None
    new_readings: int = 0
    next_day_readings: int = 0
    withdrawn_consents: int = 0
    differences_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    """The same after the runs that followed the changes (the increments)."""
    bare: Measurement | None = None
    failures: list[str] = field(default_factory=list)


def exact_rows(exact: Path, table: str, order: str, count: int) -> list[dict]:
    """The first `count` rows of one of DuckDB's exact tables, in `order`."""
    with duckdb.connect() as con:
        relation = con.sql(
            f"SELECT * FROM read_parquet('{exact / table}.parquet') ORDER BY {order} LIMIT {count}"
        )
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def readings_a_day_later_file(exact: Path, destination: Path, count: int = NEW_READINGS) -> int:
    """`count` trusted phone readings, a day later, as one new landing file: readings of
    consenting customers, after their consent, that pass the contract; a change of the same
    size whatever the history. Returns the number of lines written."""
    readings = exact_rows(exact, "accelerometer_trusted", '"user", "timestamp"', count)
    return write_landing_file(
        destination, ({**r, "timestamp": r["timestamp"] + ONE_DAY_MS} for r in readings)
    )


def following_day_readings_file(exact: Path, destination: Path, count: int = NEW_READINGS) -> int:
    """The same `count` trusted phone readings at times in the day after the latest trusted
    reading, one every `ONE_DAY_MS / count` ms, as one new landing file: the next day's
    readings of consenting customers. Returns the number of lines written."""
    readings = exact_rows(exact, "accelerometer_trusted", '"user", "timestamp"', count)
    with duckdb.connect() as con:
        (latest,) = con.sql(
            f"SELECT max(timestamp) FROM read_parquet('{exact / 'accelerometer_trusted'}.parquet')"
        ).fetchone()
    start, step = latest + ONE_DAY_MS, ONE_DAY_MS // count
    return write_landing_file(
        destination,
        ({**r, "timestamp": start + step * i} for i, r in enumerate(readings)),
    )


def withdrawn_consents_file(exact: Path, destination: Path, count: int = CHANGED_CONSENTS) -> int:
    """`count` consenting customers' current records again, a millisecond later, their consent
    to research withdrawn, as one new landing file. Returns the number of lines written."""
    customers = exact_rows(exact, "customer_trusted", '"email"', count)
    return write_landing_file(destination, map(with_consent_flipped, customers))


def project_against_duckdb(lake: Path, exact: Path, scratch: Path) -> dict[str, tuple[int, int]]:
    """Per zone table, the rows only in the project's Delta table and the rows only in DuckDB's
    exact one (multisets, DuckDB's columns)."""
    differences = {}
    with duckdb.connect() as con:
        con.execute(f"LOAD '{DUCKDB_DELTA}'")
        con.execute(f"SET temp_directory = '{scratch}'")
        con.execute("SET memory_limit = '8GB'")
        for table in ZONE_TABLES:
            theirs = f"read_parquet('{exact / table.name}.parquet')"
            ours = f"delta_scan('{lake / table.path}')"
            columns = ", ".join(f'"{c}"' for c in con.sql(f"SELECT * FROM {theirs}").columns)

            def extra(left: str, right: str, columns: str = columns) -> int:
                query = f"SELECT {columns} FROM {left} EXCEPT ALL SELECT {columns} FROM {right}"
                return con.sql(f"SELECT count(*) FROM ({query})").fetchone()[0]

            differences[table.name] = (extra(ours, theirs), extra(theirs, ours))
            print(f"    {table.name}: {differences[table.name]}", flush=True)
    return differences


def compare(
    result: HugeResult, lake: Path, exact: Path, scratch: Path
) -> dict[str, tuple[int, int]]:
    """The project's tables against DuckDB's; a failure is recorded and the run goes on."""
    try:
        return project_against_duckdb(lake, exact, scratch)
    except duckdb.Error as failure:
        print(failure, flush=True)
        result.failures.append(f"comparing with DuckDB: {str(failure).splitlines()[0]}")
        return {}


def attempt(
    result: HugeResult, label: str, command: list[str], environment: dict[str, str]
) -> Measurement | None:
    """Measure a command; a failure is recorded with its label and the run goes on."""
    print(f"  {result.multiple}x: {label}", flush=True)
    try:
        return measure(command, environment)
    except RuntimeError as failure:
        print(failure, flush=True)
        result.failures.append(f"{label}: {str(failure).splitlines()[0]}")
        return None


def measure_changes(
    result: HugeResult, lake: Path, work: Path, environment: dict[str, str], duck: list[str]
) -> None:
    """Steps 3 to 6 on the built lake: nothing new, the new readings, the withdrawals, and the
    tables grown by those increments against DuckDB's contract on the same files."""
    reusing = {**environment, "STEDI_FULL_REFRESH": "0"}
    result.nothing_new = attempt(result, "nothing new", materialize_command(), reusing)
    new_file = lake / "accelerometer" / "landing" / "readings-a-day-later.json"
    result.new_readings = readings_a_day_later_file(work / "duck", new_file)
    result.new_file = attempt(result, "new readings", materialize_command(), reusing)
    next_day_file = lake / "accelerometer" / "landing" / "following-day-readings.json"
    result.next_day_readings = following_day_readings_file(work / "duck", next_day_file)
    result.next_day = attempt(result, "the next day's readings", materialize_command(), reusing)
    withdrawals = lake / "customer" / "landing" / "withdrawn-consents.json"
    result.withdrawn_consents = withdrawn_consents_file(work / "duck", withdrawals)
    result.consents = attempt(result, "withdrawn consents", materialize_command(), reusing)
    if result.consents and attempt(
        result, "DuckDB after the changes", [*duck, str(work / "duck-after")], environment
    ):
        result.differences_after = compare(result, lake, work / "duck-after", work)


def check_and_change(
    result: HugeResult,
    lake: Path,
    work: Path,
    environment: dict[str, str],
    report: Callable[[HugeResult], None],
) -> None:
    """Steps 2 to 7: DuckDB's contract and the tables against it, then the changes."""
    duck = [sys.executable, str(ROOT / "benchmarks/duckdb_contract.py"), str(lake)]
    result.duckdb = attempt(result, "DuckDB contract", [*duck, str(work / "duck")], environment)
    report(result)
    if result.project and result.duckdb:
        result.differences = compare(result, lake, work / "duck", work)
        report(result)
        measure_changes(result, lake, work, environment, duck)
        report(result)


def run_size(
    multiple: int, skip_bare: bool, full_build_only: bool, report: Callable[[HugeResult], None]
) -> HugeResult:
    result = HugeResult(multiple)
    landing = landing_for(multiple, large_files=True)
    result.lines, result.json_bytes, result.largest_file_bytes = landing_size(landing)
    with tempfile.TemporaryDirectory(prefix="stedi-bench-huge-") as scratch:
        work = Path(scratch)
        environment, lake = benchmark_environment(landing, work)
        result.project = attempt(result, "full build", materialize_command(), environment)
        report(result)
        if not full_build_only:
            check_and_change(result, lake, work, environment, report)
        if not skip_bare:
            bare = [sys.executable, str(ROOT / "benchmarks/bare_pyspark.py"), str(landing)]
            result.bare = attempt(result, "plain PySpark", [*bare, str(work / "bare")], environment)
            report(result)
    return result


def seconds(measurement: Measurement | None, against: Measurement | None = None) -> str:
    if measurement is None:
        return "not run"
    if against is None:
        return f"{measurement.seconds:.1f}"
    return f"{measurement.seconds:.1f} ({measurement.seconds / against.seconds:.2f})"


def peak(measurement: Measurement | None) -> str:
    if measurement is None:
        return ""
    return f"{measurement.peak_bytes / 2**30:.1f} ({measurement.peak_anonymous_bytes / 2**30:.1f})"


def sizes_table(results: list[HugeResult]) -> str:
    rows = [
        "| size | customers | landing lines | JSON | largest file | project full build s "
        "| its peak GiB (not file-backed) | DuckDB s | plain PySpark s | project/plain "
        "| nothing new s "
        "| new readings over the history: lines, s (of the full build) "
        "| the next day's readings: lines, s (of the full build) "
        "| consents withdrawn: lines, s (of the full build) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.project.seconds / r.bare.seconds:.2f}" if r.project and r.bare else ""
        rows.append(
            f"| {r.multiple}x | {COURSE_CUSTOMERS * r.multiple:,} | {r.lines:,} "
            f"| {r.json_bytes / 2**20:,.0f} MiB | {r.largest_file_bytes / 2**20:,.0f} MiB "
            f"| {seconds(r.project)} | {peak(r.project)} | {seconds(r.duckdb)} "
            f"| {seconds(r.bare)} | {ratio} | {seconds(r.nothing_new)} "
            f"| {r.new_readings:,}: {seconds(r.new_file, r.project)} "
            f"| {r.next_day_readings:,}: {seconds(r.next_day, r.project)} "
            f"| {r.withdrawn_consents:,}: {seconds(r.consents, r.project)} |"
        )
    return "\n".join(rows)


def differences_table(results: list[HugeResult]) -> str:
    rows = [
        "| size | table | after the full build: rows only in the project's / only in DuckDB's "
        "| after the changes: the same |",
        "|---|---|---:|---:|",
    ]
    for r in results:
        for name, (extra, missing) in r.differences.items():
            after = r.differences_after.get(name)
            later = f"{after[0]:,} / {after[1]:,}" if after else "not run"
            rows.append(f"| {r.multiple}x | {name} | {extra:,} / {missing:,} | {later} |")
    return "\n".join(rows)


def growth_table(results: list[HugeResult]) -> str:
    """The same change at the largest history against the smallest that had the whole change
    (1x has fewer than 80,000 trusted readings and 1,000 consenting customers)."""
    measured = [
        r
        for r in results
        if r.new_file
        and r.next_day
        and r.consents
        and (r.new_readings, r.next_day_readings, r.withdrawn_consents)
        == (NEW_READINGS, NEW_READINGS, CHANGED_CONSENTS)
    ]
    if len(measured) < 2:
        return ""
    small, large = min(measured, key=lambda r: r.multiple), max(measured, key=lambda r: r.multiple)
    return "\n".join(
        [
            f"| change | at {small.multiple}x s | at {large.multiple}x s | ratio | target |",
            "|---|---:|---:|---:|---:|",
            f"| {small.new_readings:,} new readings over the history "
            f"| {small.new_file.seconds:.1f} | {large.new_file.seconds:.1f} "
            f"| {large.new_file.seconds / small.new_file.seconds:.2f} | ≤ 1.5 |",
            f"| {small.next_day_readings:,} readings of the next day "
            f"| {small.next_day.seconds:.1f} | {large.next_day.seconds:.1f} "
            f"| {large.next_day.seconds / small.next_day.seconds:.2f} | ≤ 1.5 |",
            f"| {small.withdrawn_consents:,} consents withdrawn | {small.consents.seconds:.1f} "
            f"| {large.consents.seconds:.1f} "
            f"| {large.consents.seconds / small.consents.seconds:.2f} | ≤ 2 |",
        ]
    )


def section(command: str, results: list[HugeResult]) -> str:
    text = (
        f"## `{command}`\n\n"
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        "Each source as two large files (a plain export), the default configuration; the runs "
        "after a change reuse what they can, their share of the full build in brackets.\n\n"
        + sizes_table(results)
        + "\n"
    )
    if any(r.differences for r in results):
        text += (
            "\nThe project's tables against DuckDB's exact contract on the same files:\n\n"
            + differences_table(results)
            + "\n"
        )
    growth = growth_table(results)
    if growth:
        text += "\nThe same change on a longer history:\n\n" + growth + "\n"
    failures = [f"- {r.multiple}x {failure}" for r in results for failure in r.failures]
    if failures:
        text += "\nFailed:\n\n" + "\n".join(failures) + "\n"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 120, 1000])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--skip-bare", action="store_true", help="leave out the plain script")
    choice.add_argument(
        "--full-build-only", action="store_true", help="the full build and the plain script alone"
    )
    args = parser.parse_args()
    command = f"python benchmarks/run_huge.py {' '.join(sys.argv[1:])}".strip()
    results: list[HugeResult] = []

    def report(current: HugeResult) -> None:
        write_section(
            ROOT / "benchmarks" / "results.md", command, section(command, [*results, current])
        )

    for multiple in args.sizes:
        results.append(run_size(multiple, args.skip_bare, args.full_build_only, report))
    print("\n" + section(command, results))


if __name__ == "__main__":
    main()
