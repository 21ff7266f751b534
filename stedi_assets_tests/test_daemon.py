"""End to end with the real daemon: files land, the sensor notices, a queued run rebuilds the
tables, and a later file updates them, with no one pressing a button."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.settings import PROJECT_ROOT
from stedi_assets_tests.conftest import LandingWriter
from stedi_assets_tests.erased_lake import SALT
from stedi_assets_tests.lakes import dagster_home, stedi_command

pytestmark = pytest.mark.slow  # starts processes

CUSTOMERS = [
    {
        "email": "ann@x.com",
        "serialNumber": "S1",
        "lastUpdateDate": 1,
        "shareWithResearchAsOfDate": 1,
    },
    {"email": "bob@x.com", "serialNumber": "S2", "lastUpdateDate": 1},
]


def reading(user: str, timestamp: int) -> dict:
    return {"user": user, "timestamp": timestamp, "x": 1.0, "y": 2.0, "z": 3.0}


@pytest.fixture
def daemon(lake_root: Path, connect_endpoint: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` on the project's workspace.yaml and dagster.yaml, over `lake_root`,
    its runs clients of the session's Spark Connect server (as under `make ui`)."""
    home = dagster_home(tmp_path / "dagster_home")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "STEDI_LAKE": str(lake_root),
        "STEDI_SENSOR_INTERVAL": "2",
        "STEDI_EARLIEST_TIME": "1970-01-01",  # hand-made times count from the epoch
        "STEDI_SPARK_REMOTE": connect_endpoint,
        "STEDI_ERASURE_SALT": SALT,
    }
    with open(tmp_path / "daemon.log", "w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        yield process
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def wait_for(condition: Callable[[], bool], what: str, log: Path, timeout: float = 300) -> None:
    """Poll until `condition` holds (the daemon works on its own clock), or fail saying what."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}; daemon log:\n{log.read_text()[-4000:]}")


def row_count(spark: SparkSession, uri: Path) -> int:
    """Rows of the table's latest version, or -1 before its first commit. (Not
    `DeltaTable.isDeltaTable`: the session caches a table's log and would not see it appear.)"""
    if not any((uri / "_delta_log").glob("*.json")):
        return -1
    return spark.read.format("delta").load(str(uri)).count()


def test_the_daemon_rebuilds_tables_when_files_land(
    daemon: subprocess.Popen,
    spark: SparkSession,
    lake_root: Path,
    tmp_path: Path,
    write_landing: LandingWriter,
) -> None:
    log = tmp_path / "daemon.log"
    readings = lake_root / "accelerometer/trusted"
    write_landing("customer", "customers.json", CUSTOMERS)
    write_landing("step_trainer", "devices.json", [])
    write_landing("accelerometer", "day-1.json", [reading("ann@x.com", 5), reading("bob@x.com", 5)])
    curated = lake_root / "customer/curated"
    wait_for(
        lambda: row_count(spark, curated) == 1 and row_count(spark, readings) == 1,
        "the first run to publish Ann, her reading and nothing of Bob",
        log,
    )

    write_landing("accelerometer", "day-2.json", [reading("ann@x.com", 6), reading("ann@x.com", 7)])
    wait_for(lambda: row_count(spark, readings) == 3, "the run for a new file", log)
    assert daemon.poll() is None
    # The first run asked the server for tables not made yet: answers the code expects, which
    # PySpark's client would print, each with its stack, among the runs' output.
    assert "landing_files_sensor" in log.read_text(), "the daemon printed nothing to judge"
    assert "GRPC Error" not in log.read_text()


def test_an_erasure_from_the_command_line_waits_its_turn_in_the_run_queue(
    daemon: subprocess.Popen,
    spark: SparkSession,
    lake_root: Path,
    tmp_path: Path,
    write_landing: LandingWriter,
) -> None:
    """With a daemon serving the queue, `stedi erase` queues its run like the sensor's (one run
    at a time: it cannot race one) and waits for it to finish."""
    log = tmp_path / "daemon.log"
    customers = write_landing("customer", "customers.json", CUSTOMERS)
    write_landing("step_trainer", "devices.json", [])
    write_landing("accelerometer", "day-1.json", [reading("ann@x.com", 5)])
    wait_for(lambda: row_count(spark, lake_root / "customer/curated") == 1, "the first run", log)
    home = tmp_path / "dagster_home"
    erased = stedi_command(
        "erase", "ann@x.com", DAGSTER_HOME=str(home), STEDI_LAKE=str(lake_root),
        STEDI_ERASURE_SALT=SALT,
    )  # fmt: skip
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert "Erasure queued as run" in erased.stdout
    run_id = erased.stdout.split("Erasure queued as run ")[1].split(";")[0]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.job_name == "erase_customer_job"
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
    assert "ann@x.com" not in customers.read_text()
    assert row_count(spark, lake_root / "customer/trusted") == 0
