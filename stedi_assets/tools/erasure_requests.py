"""An erasure request from the command line, run where it cannot race a run of the assets.

Runs launched through the instance (the UI, the sensor, the schedule) wait in its run queue and
run one at a time (`dagster.yaml`). When the daemon serves that queue, `stedi erase` puts its
run in the queue too, so it runs between two runs, never beside one, and waits for it. Without a
daemon no sensor or schedule launches runs; the erasure then runs in this process, once no run
recorded in the instance is unfinished.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg

from stedi_assets.orchestration.sensors import IN_PROGRESS
from stedi_assets.settings import PROJECT_ROOT

ERASE_JOB = "erase_customer_job"
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
HEARTBEAT_TOLERANCE_SECONDS = 90
"""How old the queue daemon's last heartbeat may be for it to count as serving the queue
(it beats every 30 s)."""


class ErasureRefused(Exception):
    """The erasure could not be run safely now; the message says why and what to do."""


def queue_is_served(instance: dg.DagsterInstance) -> bool:
    """Whether a daemon dequeues this instance's runs (a recent heartbeat of its queue)."""
    heartbeat = instance.get_daemon_heartbeats().get(QUEUE_DAEMON)
    return heartbeat is not None and time.time() - heartbeat.timestamp < HEARTBEAT_TOLERANCE_SECONDS


def run_config(email_hash: str, vacuum_now: bool) -> dict:
    config = {"email_hash": email_hash, "vacuum_now": vacuum_now}
    return {"ops": {"erase_customer": {"config": config}}}


def erase_through_queue(
    instance: dg.DagsterInstance, email_hash: str, vacuum_now: bool, poll_seconds: float = 2
) -> dg.DagsterRun:
    """Queue the erasure job (`dagster job launch` on the project's workspace, as the UI
    would) and wait until its run has finished; the finished run."""
    run_id = str(uuid.uuid4())
    command = [
        str(Path(sys.executable).parent / "dagster"), "job", "launch",
        "-w", str(PROJECT_ROOT / "workspace.yaml"), "-j", ERASE_JOB,
        "--config-json", json.dumps(run_config(email_hash, vacuum_now)),
        "--run-id", run_id,
    ]  # fmt: skip
    launched = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if launched.returncode != 0:
        raise ErasureRefused(f"the erasure could not be queued: {launched.stderr[-2000:]}")
    print(f"Erasure queued as run {run_id}; it runs after the runs before it.", flush=True)
    while True:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(poll_seconds)


def erase_in_process(
    instance: dg.DagsterInstance | None, email_hash: str, vacuum_now: bool
) -> bool:
    """Run the erasure job here, unless a run the instance records is unfinished."""
    from stedi_assets.definitions import defs

    if instance is not None:
        unfinished = instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS), limit=1)
        if unfinished:
            raise ErasureRefused(
                f"run {unfinished[0].dagster_run.run_id} is not finished, and no daemon serves "
                "the run queue: erase once it has ended, or start the UI (`make ui`) so that "
                "the erasure waits its turn in the queue"
            )
    job = defs().get_job_def(ERASE_JOB)
    result = job.execute_in_process(
        run_config=run_config(email_hash, vacuum_now), instance=instance, raise_on_error=False
    )
    return result.success


def erase(email_hash: str, vacuum_now: bool, dagster_home_set: bool) -> bool:
    """Erase the customer named by `email_hash` through the queue when it is served, else in
    this process; whether the erasure succeeded."""
    if not dagster_home_set:
        return erase_in_process(None, email_hash, vacuum_now)
    with dg.DagsterInstance.get() as instance:
        if queue_is_served(instance):
            run = erase_through_queue(instance, email_hash, vacuum_now)
            return run.status == dg.DagsterRunStatus.SUCCESS
        return erase_in_process(instance, email_hash, vacuum_now)
