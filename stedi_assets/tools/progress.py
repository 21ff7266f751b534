"""`stedi materialize`: the documented materialization, told as a person reads it.

Dagster's event log (DEBUG events, a few hundred lines) goes to a file; the terminal gets one line
per asset as its step ends (rows, seconds, checks passed and warned), or the asset and the cause
when it fails, read from the run's events in the Dagster instance, the records the UI shows.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

POLL_SECONDS = 0.5


@dataclass
class _Step:
    started: float | None = None
    rows: int | None = None
    how: str = ""
    """How the table came to be: rebuilt (nothing said), unchanged, or changed by an
    increment."""
    passed: int = 0
    warned: int = 0
    failed: list[str] = field(default_factory=list)


def _how(metadata: Mapping[str, dg.MetadataValue]) -> str:
    """What a materialization's metadata says of how the table was made, for its line."""
    rebuilt = metadata.get("rebuilt")
    if rebuilt is None or rebuilt.value:
        return ""
    added, removed = metadata.get("rows_added"), metadata.get("rows_removed")
    if added is None or removed is None:
        return "  (unchanged: the published version)"
    return f"  (increment: {added.value:,} rows added, {removed.value:,} removed)"


@dataclass
class RunNarrator:
    """Turns a run's event log entries, fed in order, into one line per finished step."""

    steps: dict[str, _Step] = field(default_factory=dict)

    def lines(self, entries: Iterable[dg.EventLogEntry]) -> Iterator[str]:
        for entry in entries:
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            step = self.steps.setdefault(event.step_key, _Step())
            kind = event.event_type
            if kind == dg.DagsterEventType.STEP_START:
                step.started = entry.timestamp
            elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                materialization = event.step_materialization_data.materialization
                rows = materialization.metadata.get("dagster/row_count")
                step.rows = rows.value if rows is not None else None
                step.how = _how(materialization.metadata)
            elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.asset_check_evaluation_data
                if evaluation.passed:
                    step.passed += 1
                elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                    step.warned += 1
                else:
                    step.failed.append(evaluation.check_name)
            elif kind == dg.DagsterEventType.STEP_SUCCESS:
                yield self._finished(event.step_key, step, entry.timestamp)
            elif kind == dg.DagsterEventType.STEP_FAILURE:
                yield self._failed(event.step_key, step, entry.timestamp, event)

    @staticmethod
    def _seconds(step: _Step, ended: float) -> float:
        return ended - step.started if step.started is not None else 0.0

    def _finished(self, name: str, step: _Step, ended: float) -> str:
        rows = f"{step.rows:>10,} rows" if step.rows is not None else f"{'':>15}"
        warned = f", {step.warned} warned" if step.warned else ""
        return (
            f"{name:<26}{rows}  {self._seconds(step, ended):6.1f} s  "
            f"checks: {step.passed} passed{warned}{step.how}"
        )

    def _failed(self, name: str, step: _Step, ended: float, event: dg.DagsterEvent) -> str:
        error = event.step_failure_data.error
        causes = []
        while error is not None:
            causes.append(error.message.strip())
            error = error.cause
        failed = f" (failed checks: {', '.join(step.failed)})" if step.failed else ""
        return (
            f"{name:<26} FAILED after {self._seconds(step, ended):.1f} s{failed}\n    "
            + "\n    caused by: ".join(causes)
        )


def _run_started_since(instance: dg.DagsterInstance, since: float) -> str | None:
    records = instance.get_run_records(limit=1)
    if records and records[0].create_timestamp.timestamp() >= since:
        return records[0].dagster_run.run_id
    return None


def materialize_with_progress(command: list[str], log: Path) -> int:
    """Run `command` (a `dg launch`) with its output in `log`, printing a line
    per asset as it finishes; returns the command's exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    since = time.time()
    narrator, seen, run_id = RunNarrator(), 0, None
    with dg.DagsterInstance.get() as instance, log.open("w") as output:
        print(f"Materializing every asset; Dagster's event log: {log}", flush=True)
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        while True:
            finished = process.poll() is not None
            run_id = run_id or _run_started_since(instance, since)
            if run_id:
                entries = instance.all_logs(run_id)
                for line in narrator.lines(entries[seen:]):
                    print(line, flush=True)
                seen = len(entries)
            if finished:
                break
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
    if process.returncode != 0:
        print(f"The run failed (exit code {process.returncode}); the whole event log: {log}")
        if run_id is None:  # it failed before a run began: its output says why
            print(log.read_text()[-3000:])
    return process.returncode
