"""Helpers for tests that materialize the asset graph against a lake and read its tables."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame, SparkSession

from stedi_assets import defs, settings
from stedi_assets.orchestration.resources import LakeResource, s3_resource
from stedi_assets.publishing.build_inputs import BuildRecord
from stedi_assets.settings import PROJECT_ROOT, ConsentPolicy
from stedi_assets.storage import delta_tables
from stedi_assets.storage.landing_store import is_hidden
from stedi_assets.storage.spark import spark_config
from stedi_assets.tools.cli import materialize_command
from stedi_assets.tools.shared_spark import answers
from stedi_assets_tests.graphql import DagsterWebserver
from stedi_assets_tests.reference_contract import COLUMNS, SOURCES, Expected

TABLE_PATHS = {
    "customer_trusted": "customer/trusted",
    "accelerometer_trusted": "accelerometer/trusted",
    "customers_curated": "customer/curated",
    "step_trainer_trusted": "step_trainer/trusted",
    "machine_learning_curated": "step_trainer/curated",
}
"""The zone tables' lake paths, as the issue gives them (not taken from the code under test)."""


HAND_MADE_TIMES = {"earliest_time": "1970-01-01"}
"""Lake options for hand-made lakes, whose times count from the epoch (0, 100, 1500, …)."""


def landing_uris(folder: Path) -> list[str]:
    """The files of a landing folder as a run reads them: every file that is not hidden
    (`storage.landing_store.is_hidden`), by its path."""
    return sorted(str(p) for p in folder.iterdir() if p.is_file() and not is_hidden(p.name))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Return once `process` listens on `port` (polling), failing if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        if answers(port):
            return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


def dagster_home(folder: Path) -> Path:
    """A fresh DAGSTER_HOME holding the project's dagster.yaml, as `make` sets one up."""
    folder.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "dagster.yaml", folder / "dagster.yaml")
    return folder


@contextlib.contextmanager
def stedi_ui(
    folder: Path, spark_port: int, **environment: str
) -> Iterator[tuple[DagsterWebserver, subprocess.Popen]]:
    """`make ui`'s command, `stedi ui` (`dg dev`, its runs on the Spark Connect server it
    starts on `spark_port`), on a free port with a fresh DAGSTER_HOME under `folder` and its
    output in `folder/stedi-ui.log`; its whole process group is stopped on leaving."""
    port = free_port()
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home(folder / "dagster_home")),
        **environment,
    }
    environment.pop("STEDI_SPARK_REMOTE", None)
    command = [
        str(PROJECT_ROOT / ".venv/bin/stedi"), "ui", "--port", str(port),
        "--spark-port", str(spark_port),
    ]  # fmt: skip
    with open(folder / "stedi-ui.log", "w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield DagsterWebserver(f"http://127.0.0.1:{port}"), process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):  # code servers may outlive dg dev
            os.killpg(process.pid, signal.SIGKILL)


def materialize_with_cli(
    lake: Path | str, home: Path, **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run the documented command, `dg launch -m stedi_assets --assets '*'`,
    in its own process against `lake`, recording into `home`; returns its output. (The run
    starts a JVM of its own unless `STEDI_SPARK_REMOTE` makes it a Spark Connect client.)"""
    completed = subprocess.run(
        materialize_command(),
        env={**os.environ, "STEDI_LAKE": str(lake), "DAGSTER_HOME": str(home), **environment},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-5000:]
    return completed


def stedi_command(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`stedi ARGS` (as `python -m stedi_assets`) in its own process; returns its output."""
    return subprocess.run(
        [sys.executable, "-m", "stedi_assets", *args],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=900,
    )


def lake_with(landing: Path, root: Path) -> Path:
    """A lake at `root` holding a copy of the landing files of the lake at `landing`."""
    for source in SOURCES:
        shutil.copytree(landing / source / "landing", root / source / "landing")
    return root


def files_containing(folder: Path, needles: Iterable[str]) -> dict[str, list[str]]:
    """Which of `needles` occur, case-insensitively, in which files under `folder` (as bytes,
    so SQLite databases and compressed logs' plain parts are searched too)."""
    wanted = {needle: needle.lower().encode() for needle in needles}
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            content = path.read_bytes().lower()
            hits = [needle for needle, raw in wanted.items() if raw in content]
            if hits:
                found[str(path.relative_to(folder))] = hits
    return found


def spark_config_for_tests() -> dict[str, str]:
    """The project's Spark settings, sized for tests: two cores, two shuffle partitions (tiny
    tables gain nothing from more tasks) and a small driver beside the test process."""
    return {
        **spark_config(),
        "spark.master": "local[2]",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.memory": "2g",
        "spark.ui.enabled": "false",
    }


def lake_for_tests(root: Path | str, **options: Any) -> LakeResource:
    """The lake resource of a test lake: the environment's choice between increments and
    rebuilds (every table grows by increments in tests: `conftest.pytest_configure`)."""
    return LakeResource(
        root=str(root), **{"increment_min_rows": settings.increment_min_rows(), **options}
    )


def materialize_lake(
    root: Path | str,
    spark: SparkSession,
    policy: ConsentPolicy = ConsentPolicy.SINCE_CONSENT,
    instance: dg.DagsterInstance | None = None,
    pyspark: PySparkResource | None = None,
    tags: dict[str, str] | None = None,
    selection: Iterable[dg.AssetKey] | None = None,
    **lake_options: Any,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset of the project's definitions (or those of `selection`, as a
    sensor requests them) against the lake at `root` (with the test session's Spark settings,
    or through `pyspark`)."""
    resources = {
        "pyspark": pyspark or PySparkResource(spark_config=spark_config_for_tests()),
        "lake": lake_for_tests(root, consent_policy=policy, **lake_options),
    }
    instance = instance or dg.DagsterInstance.ephemeral()
    if selection is not None:  # a job of some assets: their resources given whole
        return dg.materialize(
            defs().assets or [],
            selection=list(selection),
            resources={**resources, "s3": s3_resource()},
            instance=instance,
            tags=tags,
            raise_on_error=False,
        )
    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, tags=tags, resources=resources, raise_on_error=False
    )


def read_rows(
    spark: SparkSession, uri: str | Path, columns: list[str] | None = None
) -> list[tuple]:
    """A Delta table's rows as sorted tuples (in `columns` order, or the table's)."""
    table: DataFrame = spark.read.format("delta").load(str(uri))
    if columns:
        table = table.select(*columns)
    return sorted(tuple(row) for row in table.collect())


def table_rows(spark: SparkSession, root: Path, table: str) -> Counter:
    frame = spark.read.format("delta").load(str(root / TABLE_PATHS[table]))
    return Counter(tuple(row) for row in frame.select(*COLUMNS[table]).collect())


READINGS_CHART = ((1, 1), (2, 10), (11, 50), (51, 100), (101, 500), (501, None))
"""The buckets of accelerometer_trusted's chart, customers by number of readings (restated)."""


def readings_chart(readings: Iterable[tuple]) -> list[int]:
    """How many customers have how many readings, by `READINGS_CHART`'s buckets (each row's
    first field names its customer)."""
    per_customer = Counter(row[0] for row in readings)
    return [
        sum(low <= count and (high is None or count <= high) for count in per_customer.values())
        for low, high in READINGS_CHART
    ]


def assert_lake_is(spark: SparkSession, root: Path, expected: Expected) -> None:
    """Every table (as a multiset), each trusted table's accounting and accelerometer_trusted's
    chart (recorded with their published version) and every quarantine are `expected`'s."""
    for table in TABLE_PATHS:
        assert table_rows(spark, root, table) == Counter(getattr(expected, table)), table
    for table, wanted in expected.accounting.items():
        commit = delta_tables.latest_commit(spark, str(root / TABLE_PATHS[table]))
        record = BuildRecord.from_json(commit[1]) if commit else None
        assert record is not None and record.accounting is not None, table
        assert {key: record.accounting[key] for key in wanted} == wanted, table
        if table == "accelerometer_trusted":
            chart = readings_chart(expected.accelerometer_trusted)
            assert record.charts == {"readings_per_customer": chart}, table
    for source in SOURCES:
        quarantine = spark.read.format("delta").load(str(root / source / "quarantine"))
        found = sorted(
            (Path(row.source_file).name, row.line_number) for row in quarantine.collect()
        )
        assert found == expected.quarantined[source], source


def assert_lake_matches(spark: SparkSession, root: Path, expected: Expected) -> None:
    """`assert_lake_is`, on data that gives every table rows (an empty table proves little)."""
    for table in TABLE_PATHS:
        assert getattr(expected, table), f"the generated data should give {table} rows"
    assert_lake_is(spark, root, expected)
