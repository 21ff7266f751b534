"""`make bench`: the project against a bare PySpark script and DuckDB, on the same data.

For each size (multiples of the course data: 1x is about 1,000 customers with 85 readings
each), generate landing data with the project's sample-data command, then time, one after the
other on the same files:

1. the project: `dg launch -m stedi_assets --assets '*'`, every check, Delta tables;
2. `benchmarks/bare_pyspark.py`: the contract as a plain script of its own, no Dagster, no
   checks, Parquet (it departs from the contract on a few hostile lines: counted);
3. `benchmarks/duckdb_contract.py`: the same contract in DuckDB SQL (single-node reference);
4. with `--warm`, the project again as a client of a Spark Connect server that is already up
   and has done one run (`stedi connect-server`; what each run launched from `stedi ui` costs),
   against its cold run (a new process and JVM).

It prints wall time and peak memory (the whole process tree, the JVM included), the ratios
1/2 and 1/3, and the share of the project's time spent in checks, and writes the table to
`benchmarks/results.md` with a description of the machine.

    python benchmarks/run.py [--sizes 1 10] [--repeats 3] [--warm] [--large-files]
        [--giant-file-gb 2.5]

`--large-files` writes each source as two large files (as a plain daily export does) instead of
64 MiB pieces; `--giant-file-gb` also runs the project on one accelerometer file of that size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from stedi_assets.tools.cli import materialize_command
from stedi_assets.tools.shared_spark import TOKEN_VARIABLE, connect_server

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA = ROOT / ".cache" / "bench"
COURSE_CUSTOMERS = 1_000  # "1x": about the course data's size
ZONE_TABLES = (
    "customer_trusted",
    "accelerometer_trusted",
    "customers_curated",
    "step_trainer_trusted",
    "machine_learning_curated",
)


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    return children


def _command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as command:
            return command.read()
    except OSError:
        return b""


def _tree_rss(pid: int) -> tuple[int, int]:
    """Resident memory of a process and all its descendants, in bytes: all of it, and the part
    not backed by files (`RssFile` is file pages mapped in, such as the blocks Spark memory-maps
    to read back what it spilled: page cache the kernel can drop, not the process's own).

    A child that has not yet called `exec` (the same command line as its parent: the JVM forks
    to run a shell command) shares its parent's pages and reports them as its own; it is left
    out, or a fork of an 8 GiB JVM would count 8 GiB twice."""
    children, total, anonymous, stack = _children(), 0, 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line.startswith("Rss"))
        except OSError:
            fields = {}
        kib = {name: int(value.split()[0]) * 1024 for name, value in fields.items()}
        total += sum(kib.values())
        anonymous += kib.get("RssAnon", 0) + kib.get("RssShmem", 0)
        command = _command_line(current)
        stack.extend(
            child for child in children.get(current, []) if _command_line(child) != command
        )
    return total, anonymous


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_bytes: int
    peak_anonymous_bytes: int = 0
    """The peak of the resident memory not backed by files (see `_tree_rss`)."""


def measure(command: list[str], environment: dict[str, str]) -> Measurement:
    """Run a command to completion, sampling its process tree's memory ten times a second."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = peak_anonymous = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anonymous
        while not done.wait(0.1):
            resident, anonymous = _tree_rss(process.pid)
            peak, peak_anonymous = max(peak, resident), max(peak_anonymous, anonymous)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}):\n{stderr[-3000:]}")
    label = f"{Path(command[0]).name} {Path(command[1]).name}"
    print(
        f"    {label}: {seconds:.1f} s, peak {peak / 2**30:.1f} GiB "
        f"({peak_anonymous / 2**30:.1f} GiB not file-backed)",
        flush=True,
    )
    return Measurement(seconds, peak, peak_anonymous)


# Two files per source, each as large as it comes (a plain export), instead of 64 MiB pieces.
LARGE_FILES = ["--files-per-source", "2", "--max-file-mb", str(64 * 2**10)]


def landing_size(landing: Path) -> tuple[int, int, int]:
    """A landing folder's lines, bytes and largest file's bytes (its data files only), counted
    64 MiB at a time: the largest lakes' files are several GB each."""
    files = [p for p in landing.glob("*/landing/*") if not p.name.startswith((".", "_"))]
    lines = 0
    for path in files:
        with path.open("rb") as data:
            while chunk := data.read(64 * 2**20):
                lines += chunk.count(b"\n")
    sizes = [p.stat().st_size for p in files]
    return lines, sum(sizes), max(sizes)


def landing_for(multiple: int, large_files: bool) -> Path:
    """Sample landing data of the given size, generated once and kept in .cache/bench."""
    root = BENCH_DATA / (f"{multiple}x-2-files" if large_files else f"{multiple}x")
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        customers = COURSE_CUSTOMERS * multiple
        subprocess.run(
            [sys.executable, "-m", "stedi_assets", "sample-data", "--customers", str(customers),
             "--seed", "42", "--out", str(root), *(LARGE_FILES if large_files else [])],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        (root / ".complete").touch()
    return root


def check_seconds(dagster_home: Path) -> float:
    """Seconds the last run spent in checks, from its materializations' metadata."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        total = 0.0
        for name in ZONE_TABLES:
            event = instance.get_latest_materialization_event(dg.AssetKey(name))
            assert event is not None and event.asset_materialization is not None
            total += event.asset_materialization.metadata["checks_seconds"].value
        return total


@dataclass(frozen=True)
class Increment:
    """A new accelerometer file of 1 % of the readings: what a rebuild and an increment cost."""

    lines: int
    nothing_new: Measurement
    """The project's run with no landing change: every table reused."""
    run: Measurement
    """The project's run after the new file: the tables it does not feed are reused (their
    build records match), the others rebuilt."""
    rebuild: Measurement
    """The project rebuilding every table (`STEDI_FULL_REFRESH=1`) on the lake with the file."""
    floor: Measurement
    """The project on the customers and the new file alone: less than any incremental design
    could take, since that would also have to merge into the existing tables."""
    consent_change: Measurement
    """The project's run after a customer file that changes the consent of 1 % of customers."""


@dataclass(frozen=True)
class GiantFile:
    """The project on one accelerometer landing file of several GiB (readings repeated)."""

    bytes: int
    lines: int
    project: Measurement


@dataclass(frozen=True)
class SizeResult:
    multiple: int
    lines: int
    json_bytes: int
    largest_file_bytes: int
    project: Measurement
    bare: Measurement
    duckdb: Measurement
    check_share: float
    bare_differences: dict[str, tuple[int, int]]
    warm: Measurement | None = None
    increment: Increment | None = None
    giant: GiantFile | None = None


def one_in_a_hundred(landing: Path, source: str, time_field: str) -> Iterator[dict]:
    """Every hundredth line of a source's landing files that is a JSON object whose
    `time_field` is a whole number (the sample data's malformed lines skipped)."""
    for path in sorted((landing / source / "landing").glob(f"{source}-*.json")):
        with path.open(encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines):
                if number % 100 != 0:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get(time_field), int):
                    yield record


def write_landing_file(destination: Path, records: Iterable[dict]) -> int:
    """Write `records` as one newline-delimited JSON landing file; how many were written."""
    written = 0
    with destination.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            written += 1
    return written


def new_readings_file(landing: Path, destination: Path) -> int:
    """Write 1 % of the accelerometer readings again, a second later, as one new landing file.

    Returns the number of lines written."""
    readings = one_in_a_hundred(landing, "accelerometer", "timestamp")
    return write_landing_file(
        destination, ({**r, "timestamp": r["timestamp"] + 1000} for r in readings)
    )


def consent_change_file(landing: Path, destination: Path) -> int:
    """1 % of the customer records again, a millisecond later, with their consent flipped
    (withdrawn where it was given, given where it was not), as one new landing file.

    Returns the number of lines written."""
    customers = one_in_a_hundred(landing, "customer", "lastUpdateDate")
    return write_landing_file(destination, map(with_consent_flipped, customers))


def with_consent_flipped(record: dict) -> dict:
    """A customer record a millisecond later, its consent withdrawn where it was given and
    given where it was not."""
    updated = record["lastUpdateDate"] + 1
    consented = record.get("shareWithResearchAsOfDate") is not None
    return {
        **record,
        "lastUpdateDate": updated,
        "shareWithResearchAsOfDate": None if consented else updated,
    }


def bare_against_duckdb(bare: Path, exact: Path) -> dict[str, tuple[int, int]]:
    """Per zone table, the rows of the bare script's table that DuckDB's exact one lacks, and
    the rows it lacks (multisets, by column name): how far the plain script is from the
    contract on this data."""
    connection = duckdb.connect()
    differences = {}
    for name in ZONE_TABLES:
        theirs = f"read_parquet('{bare / name}/*.parquet')"
        exact_rows = f"read_parquet('{exact / name}.parquet')"
        columns = ", ".join(
            f'"{column}"' for column in connection.sql(f"SELECT * FROM {exact_rows}").columns
        )

        def extra(left: str, right: str, columns: str = columns) -> int:
            query = f"SELECT {columns} FROM {left} EXCEPT ALL SELECT {columns} FROM {right}"
            return connection.sql(f"SELECT count(*) FROM ({query})").fetchone()[0]

        differences[name] = (extra(theirs, exact_rows), extra(exact_rows, theirs))
    return differences


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure_warm(work: Path, environment: dict[str, str]) -> Measurement:
    """The full materialization as a client of a Spark Connect server that is up and has done
    one run already (its JVM started and warmed), as runs launched from `stedi ui` are."""
    log = work / "connect-server.log"
    with connect_server(free_port(), log, environment) as server:
        client = {
            **environment,
            "STEDI_SPARK_REMOTE": server.endpoint,
            TOKEN_VARIABLE: server.token,
        }
        print("  warm-up run on a new Spark Connect server", flush=True)
        measure(materialize_command(), client)
        print("  warm run (the server already up and warmed)", flush=True)
        return measure(materialize_command(), client)


def measure_increment(landing: Path, lake: Path, work: Path, environment: dict) -> Increment:
    """Time a run with nothing new, the run after a new 1 % file lands, a full rebuild with it,
    the floor of a row-level increment, and the run after 1 % of consents change."""
    reusing = {**environment, "STEDI_FULL_REFRESH": "0"}
    print("  a run with nothing new", flush=True)
    nothing_new = measure(materialize_command(), reusing)
    lines = new_readings_file(landing, lake / "accelerometer" / "landing" / "new-readings.json")
    print("  the run after a new 1 % file", flush=True)
    run = measure(materialize_command(), reusing)
    print("  full rebuild with the new file", flush=True)
    rebuild = measure(materialize_command(), environment)
    floor_lake = work / "floor"
    shutil.copytree(landing / "customer" / "landing", floor_lake / "customer" / "landing")
    for source in ("accelerometer", "step_trainer"):
        (floor_lake / source / "landing").mkdir(parents=True)
    shutil.copy(
        lake / "accelerometer" / "landing" / "new-readings.json",
        floor_lake / "accelerometer" / "landing",
    )
    (floor_lake / "step_trainer" / "landing" / "none.json").touch()
    print("  the new file alone (floor of an incremental run)", flush=True)
    floor = measure(materialize_command(), {**environment, "STEDI_LAKE": str(floor_lake)})
    consent_change_file(landing, lake / "customer" / "landing" / "consent-changes.json")
    print("  the run after a customer file changing 1 % of consents", flush=True)
    consent_change = measure(materialize_command(), reusing)
    return Increment(lines, nothing_new, run, rebuild, floor, consent_change)


def one_giant_file(landing: Path, work: Path, gib: float, environment: dict) -> GiantFile:
    """The lake of `landing` with its accelerometer files written, end to end and again until
    `gib` GiB, as one file (without their byte-order marks), and the project run on it."""
    giant_lake = work / "giant"
    for source in ("customer", "step_trainer"):
        shutil.copytree(landing / source / "landing", giant_lake / source / "landing")
    folder = giant_lake / "accelerometer" / "landing"
    folder.mkdir(parents=True)
    pieces = sorted((landing / "accelerometer" / "landing").glob("accelerometer-*.json"))
    written = lines = 0
    with (folder / "all-readings.json").open("wb") as out:
        while written < gib * 2**30:
            for piece in pieces:
                data = piece.read_bytes().removeprefix("\ufeff".encode())
                out.write(data)
                written, lines = written + len(data), lines + data.count(b"\n")
    print(f"  one accelerometer file of {written / 2**30:.2f} GiB", flush=True)
    project = measure(materialize_command(), {**environment, "STEDI_LAKE": str(giant_lake)})
    shutil.rmtree(giant_lake)
    return GiantFile(written, lines, project)


def _link(source: str, destination: str) -> None:
    """Hard-link a landing file into a benchmark's lake; copy it across file systems."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def benchmark_environment(landing: Path, work: Path) -> tuple[dict[str, str], Path]:
    """A lake in `work` with `landing`'s files (hard links where they can be: no run changes a
    landing file, and the largest lakes' files fill tens of GB) and a Dagster home of its own,
    and the environment of runs that rebuild every table (a repeat on unchanged files would
    reuse them); the lake's folder."""
    lake = work / "lake"
    for source in ("customer", "accelerometer", "step_trainer"):
        shutil.copytree(
            landing / source / "landing", lake / source / "landing", copy_function=_link
        )
    home = work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    environment = {
        **os.environ,
        "STEDI_LAKE": str(lake),
        "DAGSTER_HOME": str(home),
        "STEDI_FULL_REFRESH": "1",
    }
    return environment, lake


def _median(measurements: list[Measurement]) -> Measurement:
    return Measurement(
        statistics.median(m.seconds for m in measurements),
        max(m.peak_bytes for m in measurements),
        max(m.peak_anonymous_bytes for m in measurements),
    )


def run_size(
    multiple: int,
    repeats: int,
    warm: bool,
    increment: bool,
    large_files: bool,
    giant_gib: float | None,
) -> SizeResult:
    landing = landing_for(multiple, large_files)
    runs: dict[str, list[Measurement]] = {"project": [], "bare": [], "duckdb": []}
    shares = []
    with tempfile.TemporaryDirectory(prefix="stedi-bench-") as scratch:
        work = Path(scratch)
        environment, lake = benchmark_environment(landing, work)
        home = Path(environment["DAGSTER_HOME"])
        for attempt in range(repeats):
            print(f"  {multiple}x run {attempt + 1}/{repeats}", flush=True)
            runs["project"].append(measure(materialize_command(), environment))
            shares.append(check_seconds(home) / runs["project"][-1].seconds)
            runs["bare"].append(
                measure(
                    [
                        sys.executable,
                        str(ROOT / "benchmarks/bare_pyspark.py"),
                        str(lake),
                        str(work / "bare"),
                    ],
                    environment,
                )
            )
            runs["duckdb"].append(
                measure(
                    [
                        sys.executable,
                        str(ROOT / "benchmarks/duckdb_contract.py"),
                        str(lake),
                        str(work / "duck"),
                    ],
                    environment,
                )
            )
        differences = bare_against_duckdb(work / "bare", work / "duck")
        warm_run = measure_warm(work, environment) if warm else None
        new_file = measure_increment(landing, lake, work, environment) if increment else None
        giant = one_giant_file(landing, work, giant_gib, environment) if giant_gib else None
    return SizeResult(
        multiple,
        *landing_size(landing),
        _median(runs["project"]),
        _median(runs["bare"]),
        _median(runs["duckdb"]),
        statistics.median(shares),
        differences,
        warm_run,
        new_file,
        giant,
    )


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[
        0
    ]
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}, {java}"
    )


def table(results: list[SizeResult]) -> str:
    gib = 2**30
    rows = [
        "| size | landing lines | JSON | largest file | project s | bare PySpark s | DuckDB s "
        "| 1/2 | 1/3 | checks share | project peak GiB | bare peak GiB | DuckDB peak GiB "
        "| warm s | warm/cold |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        to_bare, to_duckdb = (
            r.project.seconds / r.bare.seconds,
            r.project.seconds / r.duckdb.seconds,
        )
        rows.append(
            f"| {r.multiple}x | {r.lines:,} | {r.json_bytes / 2**20:,.0f} MiB "
            f"| {r.largest_file_bytes / 2**20:,.0f} MiB | {r.project.seconds:.1f} "
            f"| {r.bare.seconds:.1f} | {r.duckdb.seconds:.1f} "
            f"| {to_bare:.2f} | {to_duckdb:.1f} "
            f"| {100 * r.check_share:.0f} % | {r.project.peak_bytes / gib:.1f} "
            f"| {r.bare.peak_bytes / gib:.1f} | {r.duckdb.peak_bytes / gib:.1f} "
            + (
                f"| {r.warm.seconds:.1f} | {r.warm.seconds / r.project.seconds:.2f} |"
                if r.warm
                else "| | |"
            )
        )
    return "\n".join(rows)


def bare_differences_table(results: list[SizeResult]) -> str:
    rows = [
        "| size | table | rows only in bare PySpark's | rows only in DuckDB's (exact) |",
        "|---|---|---|---|",
    ]
    for r in results:
        for name, (extra, missing) in r.bare_differences.items():
            rows.append(f"| {r.multiple}x | {name} | {extra:,} | {missing:,} |")
    return "\n".join(rows)


def increment_table(results: list[SizeResult]) -> str:
    rows = [
        "| size | nothing new s | new lines | run after them s | full rebuild s "
        "| run/rebuild | floor of an incremental run s | after 1 % consent changes s "
        "| consent run/rebuild |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.increment:
            i = r.increment
            rebuild = i.rebuild.seconds
            rows.append(
                f"| {r.multiple}x | {i.nothing_new.seconds:.1f} | {i.lines:,} "
                f"| {i.run.seconds:.1f} | {rebuild:.1f} | {i.run.seconds / rebuild:.2f} "
                f"| {i.floor.seconds:.1f} | {i.consent_change.seconds:.1f} "
                f"| {i.consent_change.seconds / rebuild:.2f} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def increment_targets_table(results: list[SizeResult]) -> str:
    """Issue 13's ratios, from this one run: the run after a new 1 % file against the full 1x
    run (when 1x was measured too) and against the full rebuild; the run after 1 % of consents
    changed against the full rebuild."""
    full_1x = next((r.project.seconds for r in results if r.multiple == 1), None)
    rows = [
        "| size | new 1 % file / full 1x run (target ≤ 1.5) "
        "| new 1 % file / full rebuild (≤ 0.17) | 1 % consents / full rebuild (≤ 0.33) |",
        "|---|---|---|---|",
    ]
    for r in results:
        if r.increment:
            i = r.increment
            against_1x = f"{i.run.seconds / full_1x:.2f}" if full_1x else "1x not measured"
            rows.append(
                f"| {r.multiple}x | {against_1x} | {i.run.seconds / i.rebuild.seconds:.2f} "
                f"| {i.consent_change.seconds / i.rebuild.seconds:.2f} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


def giant_table(results: list[SizeResult]) -> str:
    rows = [
        "| customers and devices of | accelerometer file | its lines | project s "
        "| project peak GiB |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if r.giant:
            g = r.giant
            rows.append(
                f"| {r.multiple}x | {g.bytes / 2**30:.2f} GiB | {g.lines:,} "
                f"| {g.project.seconds:.1f} | {g.project.peak_bytes / 2**30:.1f} |"
            )
    return "\n".join(rows) if len(rows) > 2 else ""


RESULTS_HEADER = """# Benchmark results

Written by `benchmarks/run.py`, `benchmarks/run_huge.py` and `benchmarks/run_ui.py`, one
section per command (`make bench`, `make bench-large`, `make bench-huge`, `make bench-ui`); a
run replaces its own section. In each section of the first two, all three are measured in the
same run on the same files; times are medians, peak memory is the largest resident size of the
whole process tree (the JVM included; a child forked but not yet `exec`ed shares its parent's
pages and is not counted again). 1 = the project (`dg launch`, every check, Delta); 2 = bare
PySpark (the contract as a plain script, no Dagster, no checks, Parquet); 3 = DuckDB (the
contract in SQL, exact).
"""
SECTION_MARK = "<!-- section: {} -->"


def write_section(path: Path, command: str, section: str) -> None:
    """Replace this command's section of the results file, keeping the other commands' ones."""
    text = path.read_text() if path.exists() else RESULTS_HEADER
    mark = SECTION_MARK.format(command)
    head, found, rest = text.partition(mark)
    if found:
        later = rest.find("<!-- section: ")
        tail = rest[later:] if later >= 0 else ""
        text = head + mark + "\n" + section + "\n" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + mark + "\n" + section
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeats", type=int, default=1, help="runs per size; medians reported")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="also time a run through a Spark Connect server that is already up and warmed",
    )
    parser.add_argument(
        "--increment",
        action="store_true",
        help="also time runs after changes (nothing new, a new 1 %% file, 1 %% of consents), "
        "a rebuild, and the floor of a row-level increment",
    )
    parser.add_argument(
        "--large-files",
        action="store_true",
        help="write each source as two large files instead of 64 MiB pieces",
    )
    parser.add_argument(
        "--giant-file-gb",
        type=float,
        help="also run the project on one accelerometer file of this many GiB (largest size)",
    )
    args = parser.parse_args()
    results = []
    for multiple in args.sizes:
        results.append(
            run_size(
                multiple,
                args.repeats,
                args.warm,
                args.increment,
                args.large_files,
                args.giant_file_gb if multiple == max(args.sizes) else None,
            )
        )
        print(table(results[-1:]) + "\n\n" + bare_differences_table(results[-1:]), flush=True)
    command = f"python benchmarks/run.py {' '.join(sys.argv[1:])}".strip()
    section = (
        f"## `{command}`\n\n"
        f"Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n"
        + table(results)
        + "\n"
    )
    section += (
        "\nHow far the plain script's tables are from the contract (DuckDB's tables are exact, "
        "checked against the reference in its tests):\n\n" + bare_differences_table(results) + "\n"
    )
    increments = increment_table(results)
    if increments:
        section += (
            "\nRuns after a change, each reusing the tables whose inputs did not change: with "
            "nothing new; after a new accelerometer file of 1 % of the readings (against the "
            "project rebuilding everything with it, and the project on the customers and that "
            "file alone, which bounds from below what any row-level increment could take); and "
            "after a customer file changing the consent of 1 % of customers.\n\n"
            + increments
            + "\n\nA run after a change against a full run (the full 1x run is the 1x project run"
            " above):\n\n" + increment_targets_table(results) + "\n"
        )
    giants = giant_table(results)
    if giants:
        section += (
            "\nOne accelerometer landing file of several GiB (the size's readings written again "
            "and again, so most are duplicates), with the size's customers and devices:\n\n"
            + giants
            + "\n"
        )
    write_section(ROOT / "benchmarks" / "results.md", command, section)
    print("\n" + table(results))


if __name__ == "__main__":
    main()
