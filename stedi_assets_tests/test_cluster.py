"""The same project on a Spark cluster, by configuration alone: a real standalone master and
worker on loopback (started with the `spark-class` launcher PySpark ships), and the documented
command pointed at them with `STEDI_SPARK_MASTER=spark://…`."""

import contextlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import SparkSession

from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.lakes import (
    TABLE_PATHS,
    dagster_home,
    free_port,
    materialize_with_cli,
    wait_for_port,
)
from stedi_assets_tests.reference_contract import COLUMNS, compute_expected

pytestmark = pytest.mark.slow  # starts processes

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[str]:
    """A standalone master and one worker (1 core, 2 GiB) on 127.0.0.1."""
    master_port, worker_port = free_port(), free_port()
    environment = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(tmp_path)}
    master_url = f"spark://127.0.0.1:{master_port}"
    commands = [
        [str(SPARK_CLASS), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(master_port), "--webui-port", str(free_port())],
        [str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", master_url, "--host",
         "127.0.0.1", "--port", str(worker_port), "--webui-port", str(free_port()),
         "--cores", "1", "--memory", "2g", "--work-dir", str(tmp_path / "work")],
    ]  # fmt: skip
    with contextlib.ExitStack() as stack:
        for command, port in zip(commands, (master_port, worker_port), strict=True):
            log = stack.enter_context(open(tmp_path / f"{command[1].rsplit('.', 1)[1]}.log", "w"))
            process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
            stack.callback(process.wait, timeout=60)
            stack.callback(process.terminate)
            wait_for_port(port, process)
        yield master_url


def test_the_graph_materializes_on_a_standalone_cluster(
    spark_cluster: str, spark: SparkSession, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, customers=30, seed=5)
    materialize_with_cli(
        lake,
        dagster_home(tmp_path / "dagster_home"),
        STEDI_SPARK_MASTER=spark_cluster,
        STEDI_SPARK_DRIVER_MEMORY="1g",
        STEDI_SPARK_CONF="spark.executor.memory=1g spark.driver.host=127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
    )
    # The worker ran the run's executors: one application directory in its work dir.
    assert len(list((tmp_path / "work").glob("app-*"))) == 1
    expected = compute_expected(lake)
    for table, path in TABLE_PATHS.items():
        frame = spark.read.format("delta").load(str(lake / path)).select(*COLUMNS[table])
        assert Counter(tuple(row) for row in frame.collect()) == Counter(getattr(expected, table))
