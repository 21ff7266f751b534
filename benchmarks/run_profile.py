"""`make profile`: where one materialization's time goes, per asset and in total.

Runs the documented command (`dg launch -m stedi_assets --assets '*'`, a new
process and JVM) on the 1x sample lake with Spark's event log switched on, then joins the event
log (every Spark job's start and end) with the run's Dagster events (every step's start and end)
and prints, per asset: wall seconds, Spark jobs, seconds inside Spark jobs, seconds in checks and
seconds writing Delta (the last two from the materialization's metadata). Time outside every
step is the run's fixed cost: process and JVM start, definitions, resources.

`--after` profiles the run after a change instead of the first build: the lake is built first
(not profiled), then changed as `benchmarks/run.py --increment` changes it (`nothing`: no
change; `new-file`: a new accelerometer file of 1 % of the readings; `consents`: a customer file
changing the consent of 1 % of customers).

    python benchmarks/run_profile.py [--customers 1000] [--after new-file] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from run import consent_change_file, new_readings_file  # benchmarks/run.py, beside this script

from stedi_assets.tools.cli import materialize_command

CHANGES = {
    "nothing": None,
    "new-file": (new_readings_file, "accelerometer/landing/new-readings.json"),
    "consents": (consent_change_file, "customer/landing/consent-changes.json"),
}
"""The changes `--after` profiles the run after: how to write the new landing file, and where."""

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Phase:
    """One stretch of the run: an asset's step, or the time around the steps."""

    name: str
    start: float
    end: float
    jobs: int = 0
    job_seconds: float = 0.0
    checks_seconds: float | None = None
    write_seconds: float | None = None
    job_names: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class SparkJob:
    start: float
    end: float
    call_site: str


def events(event_log: Path) -> Iterator[dict]:
    """The events of a Spark event log (Spark 4 writes it as a folder of rolled files)."""
    files = sorted(event_log.glob("events_*"), key=lambda path: int(path.name.split("_")[1]))
    for path in files:
        with path.open() as lines:
            yield from map(json.loads, lines)


def spark_jobs(event_log: Path) -> Iterator[SparkJob]:
    """Every job of the application whose event log is `event_log`, in seconds since the epoch."""
    starts: dict[int, tuple[float, str]] = {}
    for event in events(event_log):
        kind = event["Event"]
        if kind == "SparkListenerJobStart":
            properties = event.get("Properties", {})
            site = properties.get("callSite.short") or properties.get(
                "spark.job.description", "Spark internal (Delta, py4j)"
            )
            starts[event["Job ID"]] = (event["Submission Time"] / 1000, site)
        elif kind == "SparkListenerJobEnd" and event["Job ID"] in starts:
            start, site = starts.pop(event["Job ID"])
            yield SparkJob(start, event["Completion Time"] / 1000, site)


def application_start(event_log: Path) -> float:
    for event in events(event_log):
        if event["Event"] == "SparkListenerApplicationStart":
            return event["Timestamp"] / 1000
    raise ValueError(f"{event_log} has no application start")


def step_phases(home: Path) -> list[Phase]:
    """Each asset step of the last run, with its checks' and writes' seconds from metadata."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        phases: dict[str, Phase] = {}
        for record in instance.all_logs(run.run_id):
            step = record.step_key
            if not record.is_dagster_event or step is None:
                continue
            kind = record.dagster_event.event_type_value
            if kind == "STEP_START":
                phases[step] = Phase(step, record.timestamp, record.timestamp)
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                phases[step].end = record.timestamp
            elif kind == "ASSET_MATERIALIZATION":
                metadata = record.dagster_event.event_specific_data.materialization.metadata
                for name in ("checks_seconds", "write_seconds"):
                    if name in metadata:
                        setattr(phases[step], name, float(metadata[name].value))
        return sorted(phases.values(), key=lambda phase: phase.start)


def profile(
    customers: int, work: Path, after: str | None = None
) -> tuple[list[Phase], float, float]:
    """Materialize a fresh sample lake (or, `after` a change, the run after it); the phases,
    the process's wall seconds and the seconds from process start to the Spark application's
    start."""
    lake, home, events = work / "lake", work / "dagster_home", work / "spark-events"
    for folder in (home, events):
        folder.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    subprocess.run(
        [sys.executable, "-m", "stedi_assets", "sample-data", "--customers", str(customers),
         "--seed", "42", "--out", str(lake)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    building = {**os.environ, "STEDI_LAKE": str(lake), "DAGSTER_HOME": str(home)}
    if after is not None:
        subprocess.run(materialize_command(), env=building, check=True, capture_output=True)
        change = CHANGES[after]
        if change is not None:
            write, path = change
            write(lake, lake / path)
    environment = {
        **building,
        "STEDI_FULL_REFRESH": "0",
        "STEDI_SPARK_CONF": " ".join(
            [
                os.environ.get("STEDI_SPARK_CONF", ""),
                "spark.eventLog.enabled=true",
                "spark.eventLog.compress=false",
                f"spark.eventLog.dir=file://{events}",
            ]
        ),
    }
    started = time.time()
    subprocess.run(
        materialize_command(), env=environment, check=True, capture_output=True, text=True
    )
    finished = time.time()
    (event_log,) = events.iterdir()
    phases = step_phases(home)
    run_start = Phase("start-up (process, JVM, definitions)", started, phases[0].start)
    run_end = Phase("after the last step (run end, JVM stop)", phases[-1].end, finished)
    everything = [run_start, *phases, run_end]
    for job in spark_jobs(event_log):
        phase = next((p for p in everything if p.start <= job.start < p.end), run_end)
        phase.jobs += 1
        phase.job_seconds += job.end - job.start
        phase.job_names[job.call_site] = phase.job_names.get(job.call_site, 0) + 1
    return everything, finished - started, application_start(event_log) - started


def report(phases: list[Phase], wall: float, jvm_ready: float) -> str:
    def cell(value: float | None) -> str:
        return "" if value is None else f"{value:.1f}"

    lines = [
        "| phase | wall s | Spark jobs | s in jobs | s in checks | s writing Delta |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        lines.append(
            f"| {phase.name} | {phase.seconds:.1f} | {phase.jobs} | {phase.job_seconds:.1f} "
            f"| {cell(phase.checks_seconds)} | {cell(phase.write_seconds)} |"
        )
    lines.append(
        f"| **total** | **{wall:.1f}** | **{sum(p.jobs for p in phases)}** "
        f"| **{sum(p.job_seconds for p in phases):.1f}** "
        f"| {sum(p.checks_seconds or 0 for p in phases):.1f} "
        f"| {sum(p.write_seconds or 0 for p in phases):.1f} |"
    )
    lines.append("")
    lines.append(f"The Spark application started {jvm_ready:.1f} s after the process.")
    lines.append("")
    lines.append("Jobs by call site, per asset:")
    for phase in phases:
        if phase.job_names:
            sites = ", ".join(
                f"{site} x{count}"
                for site, count in sorted(phase.job_names.items(), key=lambda item: -item[1])
            )
            lines.append(f"- {phase.name}: {sites}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--after", choices=CHANGES, help="profile the run after this change")
    parser.add_argument("--keep", type=Path, help="a folder for the lake and logs (kept)")
    args = parser.parse_args()
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        work = args.keep
    else:
        work = Path(tempfile.mkdtemp(prefix="stedi-profile-"))
    try:
        print(report(*profile(args.customers, work, args.after)))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
