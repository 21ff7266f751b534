"""Shared fixtures: an S3-compatible server on loopback and one real SparkSession (Delta, s3a)
for the whole test session."""

import json
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pyspark.sql import SparkSession

from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets.tools.shared_spark import TOKEN_VARIABLE, connect_server, new_token
from stedi_assets_tests.erased_lake import ErasedLake, erase_a_customer
from stedi_assets_tests.lakes import (
    dagster_home,
    free_port,
    lake_with,
    spark_config_for_tests,
    stedi_command,
)


def pytest_configure(config: pytest.Config) -> None:
    """The test lakes are small, and a small table is rebuilt rather than incremented
    (`settings.DEFAULT_INCREMENT_MIN_ROWS`): every table grows by increments here, in this
    process and in the commands it starts, so the increments are what the suite checks against
    the reference. The tests of that choice set the variable themselves."""
    os.environ["STEDI_INCREMENT_MIN_ROWS"] = "0"


# Distinctive, fake credentials: the S3 server accepts any.
S3_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "AKIASTEDITESTKEY0001",
    "AWS_SECRET_ACCESS_KEY": "stedi-test-secret-do-not-print-0001",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",  # what botocore reads
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), with the environment pointing at it.

    Started before Spark, whose s3a connector reads the endpoint when the session starts.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as environment:
        for key, value in {**S3_TEST_ENVIRONMENT, "STEDI_S3_ENDPOINT": endpoint}.items():
            environment.setenv(key, value)
        yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket named after the test."""
    name = "stedi-" + request.node.name.lower().replace("_", "-")[:40].strip("-[]")
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def spark(s3_endpoint: str) -> Iterator[SparkSession]:
    builder = SparkSession.builder
    for key, value in spark_config_for_tests().items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


class SharedServer(NamedTuple):
    endpoint: str
    port: int
    pid: int
    log: Path
    """Everything the server printed: the runs' Spark output, which a client does not see."""


@pytest.fixture(scope="session")
def shared_server(
    s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedServer]:
    """One Spark Connect server for the whole session, started as `stedi ui` starts one (2
    cores, 2 GiB, the S3 server's endpoint). The documented commands that tests run in
    processes of their own are its clients unless their own Spark is what a test is about (a
    cluster, a kill, S3 credentials), so each run pays no JVM start and warm-up, as under
    `make ui`."""
    environment = {
        **os.environ,
        "STEDI_SPARK_MASTER": "local[2]",
        "STEDI_SPARK_DRIVER_MEMORY": "2g",
    }
    environment.pop("STEDI_SPARK_REMOTE", None)
    environment[TOKEN_VARIABLE] = new_token()
    log_path, port = tmp_path_factory.mktemp("connect") / "server.log", free_port()
    with (
        connect_server(port, log_path, environment) as server,
        pytest.MonkeyPatch.context() as session_environment,
    ):
        assert server.pid is not None, "a server of the session's own, not one found listening"
        # Its clients (this process's sessions, and the commands the tests start) read it here.
        session_environment.setenv(TOKEN_VARIABLE, server.token)
        yield SharedServer(server.endpoint, port, server.pid, log_path)


@pytest.fixture(scope="session")
def connect_endpoint(shared_server: SharedServer) -> str:
    """The session's Spark Connect server, as `STEDI_SPARK_REMOTE` names it."""
    return shared_server.endpoint


LandingWriter = Callable[[str, str, list[object]], Path]


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def write_landing(lake_root: Path) -> LandingWriter:
    """Write a landing file: dicts become JSON lines, strings are written as they are."""

    def write(source: str, name: str, lines: list[object]) -> Path:
        folder = lake_root / source / "landing"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        text = "".join(
            (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
        )
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def erased_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> ErasedLake:
    """A generated lake, materialized, with one customer erased (see `erase_a_customer`):
    the erasure tests and the Spark Connect test that repeats it through the CLI share it."""
    return erase_a_customer(spark, tmp_path_factory.mktemp("erasure"))


@pytest.fixture(scope="session")
def generated_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated landing data (150 customers), shared read-only: copy it with `lake_with`."""
    root = tmp_path_factory.mktemp("generated")
    write_sample_landing(root, customers=150, seed=7)
    return root


class CliLake(NamedTuple):
    lake: Path
    home: Path
    """The DAGSTER_HOME the run recorded in."""
    run: subprocess.CompletedProcess[str]
    """What `stedi materialize` printed (also in `home / "cli-output.log"`)."""


@pytest.fixture(scope="session")
def cli_lake(
    generated_landing: Path, connect_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> CliLake:
    """A lake of `generated_landing` materialized by `make demo`'s command, `stedi materialize`
    (a client of the session's Spark Connect server), shared by the tests that read it."""
    lake = lake_with(generated_landing, tmp_path_factory.mktemp("cli") / "lake")
    home = dagster_home(lake.parent / "dagster_home")
    run = stedi_command(
        "materialize", STEDI_LAKE=str(lake), DAGSTER_HOME=str(home),
        STEDI_SPARK_REMOTE=connect_endpoint,
    )  # fmt: skip
    (home / "cli-output.log").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return CliLake(lake, home, run)


class Clock:
    """Now, as the runs and the sensor see it (`PlausibleRanges.as_of`), in epoch ms: a test
    sets it and moves it on."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The machine's clock, at 1,800,000,000,000 ms (January 2027) until the test moves it:
    what is dated ahead of it is implausible until it catches up."""
    now = Clock(1_800_000_000_000)
    as_of = PlausibleRanges.as_of
    monkeypatch.setattr(
        PlausibleRanges,
        "as_of",
        classmethod(lambda cls, now_ms=None, **ranges: as_of(now.now_ms, **ranges)),
    )
    return now
