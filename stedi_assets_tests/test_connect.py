"""The graph through Spark Connect: a real server on loopback (`stedi connect-server`: the
`spark-connect` jar PySpark ships, with the project's jars and Delta's extensions) builds,
erases and vacuums the same tables as a run with its own Spark, and `stedi sql` reads them."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets.resources import SparkResource, spark_config
from stedi_assets.sample_data import write_sample_landing
from stedi_assets_tests.lakes import (
    dagster_home,
    files_containing,
    free_port,
    materialize_lake,
    materialize_with_cli,
    read_rows,
    wait_for_port,
)
from stedi_assets_tests.test_erasure import ALL_TABLES, SALT, erase

STEDI = Path(sys.executable).parent / "stedi"
RUN_TIME = re.compile(r"to \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def connect_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`stedi connect-server` on a free port (2 cores, 2 GiB), stopped after the module."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("connect") / "server.log"
    environment = {
        **os.environ,
        "STEDI_SPARK_MASTER": "local[2]",
        "STEDI_SPARK_DRIVER_MEMORY": "2g",
    }
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(STEDI), "connect-server", "--port", str(port)],
            env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_port(port, server)
            yield f"sc://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=60)


def connect_resource(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> SparkResource:
    """The run's Spark as the definitions configure it with STEDI_SPARK_REMOTE set."""
    monkeypatch.setenv("STEDI_SPARK_REMOTE", endpoint)
    monkeypatch.setenv("STEDI_SPARK_SHUFFLE_PARTITIONS", "2")
    config = spark_config()
    assert config["spark.remote"] == endpoint and "spark.master" not in config
    return SparkResource(spark_config=config)


def lake_rows(spark: SparkSession, lake: Path, path: str) -> list[tuple]:
    """A table's rows, leaving out what differs between two runs by design: the lake's own
    folder in quarantined lines' file names, and the latest plausible time in a reason (each
    run's start plus the allowed future)."""

    def same_run(value: object) -> object:
        if not isinstance(value, str):
            return value
        return RUN_TIME.sub("to <run start + allowed future>", value.replace(str(lake), ""))

    return sorted(tuple(map(same_run, row)) for row in read_rows(spark, lake / path))


def same_tables(spark: SparkSession, classic: Path, remote: Path) -> None:
    for path in ALL_TABLES:
        rows = lake_rows(spark, classic, path)
        assert rows and lake_rows(spark, remote, path) == rows, path


@pytest.mark.connect
@pytest.mark.slow
def test_connect_builds_erases_and_vacuums_the_same_tables(
    spark: SparkSession, connect_endpoint: str, tmp_path: Path
) -> None:
    """The documented commands as clients of the server (a process holding a Spark of its own
    cannot also be a Spark Connect client), against the same files built in this process."""
    classic, remote = tmp_path / "classic", tmp_path / "remote"
    write_sample_landing(classic, customers=60, seed=3)
    shutil.copytree(classic, remote)
    assert materialize_lake(classic, spark, erasure_salt=SALT).success
    client = {"STEDI_SPARK_REMOTE": connect_endpoint, "STEDI_ERASURE_SALT": SALT}
    materialize_with_cli(remote, dagster_home(tmp_path / "home"), **client)
    same_tables(spark, classic, remote)

    (email,) = {row[1] for row in read_rows(spark, classic / "customer/curated")[:1]}
    assert erase(classic, email).success
    environment = {**os.environ, "STEDI_LAKE": str(remote), **client}
    subprocess.run(
        [str(STEDI), "erase", email, "--vacuum-now"],
        env=environment, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    same_tables(spark, classic, remote)
    assert files_containing(remote, [email]) == {}  # rewritten and vacuumed through Connect

    answer = subprocess.run(
        [str(STEDI), "sql", "select count(*) as n from machine_learning_curated"],
        env=environment, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    pairs = len(read_rows(spark, remote / "step_trainer/curated"))
    assert f"|{pairs}|" in answer.stdout.replace(" ", ""), answer.stdout


def test_an_endpoint_that_does_not_answer_fails_the_run_naming_it(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    endpoint = f"sc://127.0.0.1:{free_port()}"
    result = materialize_lake(tmp_path, spark, pyspark=connect_resource(monkeypatch, endpoint))
    assert not result.success
    errors = [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.is_failure and getattr(event.event_specific_data, "error", None)
    ]
    assert errors and all(f"No Spark Connect server answers at {endpoint}" in e for e in errors)
    assert "STEDI_SPARK_REMOTE" in errors[0]
