"""The same project on S3, by configuration alone: the whole graph materializes through s3a
against a real S3-compatible HTTP server on loopback, with the same tables as on a folder."""

import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer
from pyspark.sql import SparkSession

from stedi_assets.storage.glue import CatalogColumn, GlueCatalog, delta_table_input
from stedi_assets.storage.lake import LANDING_SOURCES, LakeLayout
from stedi_assets.storage.landing_store import landing_store
from stedi_assets.tools.cli import materialize_command
from stedi_assets.tools.sample_data import write_sample_landing
from stedi_assets_tests.conftest import S3_TEST_ENVIRONMENT
from stedi_assets_tests.lakes import TABLE_PATHS as ZONE_TABLE_PATHS
from stedi_assets_tests.lakes import (
    dagster_home,
    files_containing,
    free_port,
    materialize_lake,
    materialize_with_cli,
)
from stedi_assets_tests.reference_contract import COLUMNS, SOURCES, compute_expected
from stedi_assets_tests.test_sensors import Sensor, requested_assets

pytestmark = [pytest.mark.s3, pytest.mark.slow]


TABLE_PATHS = {
    **ZONE_TABLE_PATHS,
    "customer_quarantine": "customer/quarantine",
    "accelerometer_quarantine": "accelerometer/quarantine",
    "step_trainer_quarantine": "step_trainer/quarantine",
}


def upload_landing(local_root: Path, s3_root: str, endpoint: str) -> None:
    store = landing_store(LakeLayout(s3_root), lambda: boto3.client("s3", endpoint_url=endpoint))
    for source in LANDING_SOURCES:
        for path in sorted((local_root / source / "landing").iterdir()):
            store.write(source, path.name, path.read_bytes())


def tables(spark: SparkSession, lake: LakeLayout) -> dict[str, Counter]:
    """Every table's rows (in the reference's column order) and every quarantine's lines (file
    name, line number), by name."""

    def rows(name: str, path: str) -> Counter:
        frame = spark.read.format("delta").load(lake.uri(path))
        if "source_file" in frame.columns:  # quarantine: the file's name, not its URI
            frame = frame.selectExpr("regexp_extract(source_file, '[^/]+$', 0)", "line_number")
        else:
            frame = frame.select(*COLUMNS[name])
        return Counter(tuple(row) for row in frame.collect())

    return {name: rows(name, path) for name, path in TABLE_PATHS.items()}


def test_the_graph_on_s3_gives_the_same_tables_as_on_a_folder(
    spark: SparkSession, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "lake"
    write_sample_landing(local, customers=60, seed=11)
    first = sorted((local / "accelerometer/landing").iterdir())[0]
    shutil.copy(first, first.with_name("again [1] {a,b}*?.json"))  # read as named, not a glob
    s3_root = f"s3://{s3_bucket}/stedi"
    upload_landing(local, s3_root, s3_endpoint)

    glue = {"glue_database": "stedi", "glue_endpoint": s3_endpoint}
    assert materialize_lake(s3_root, spark, **glue).success

    # What the independent reference computes from the files, which a run on a folder gives
    # (test_end_to_end.py).
    expected = compute_expected(local)
    on_folder = {
        **{table: Counter(getattr(expected, table)) for table in ZONE_TABLE_PATHS},
        **{f"{s}_quarantine": Counter(expected.quarantined[s]) for s in SOURCES},
    }
    on_s3 = tables(spark, LakeLayout(s3_root))
    assert on_s3 == on_folder and all(on_folder.values())
    objects = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=s3_bucket, Prefix="stedi/accelerometer/trusted/_delta_log/"
    )
    assert any(item["Key"].endswith(".json") for item in objects["Contents"])

    # Every table is in the Glue catalog, where Athena finds it.
    glue = boto3.client("glue", endpoint_url=s3_endpoint)
    registered = {t["Name"]: t for t in glue.get_tables(DatabaseName="stedi")["TableList"]}
    assert set(registered) == set(TABLE_PATHS) | {f"{s}_landing" for s in LANDING_SOURCES}
    trusted = registered["customer_trusted"]
    assert trusted["Parameters"]["table_type"] == "DELTA"
    assert trusted["StorageDescriptor"]["Location"] == f"{s3_root}/customer/trusted"
    comments = {c["Name"]: c.get("Comment") for c in trusted["StorageDescriptor"]["Columns"]}
    assert "trimmed and lower-cased" in comments["email"]
    landing = registered["accelerometer_landing"]["StorageDescriptor"]
    assert landing["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["Name"] for c in landing["Columns"]] == ["user", "timestamp", "x", "y", "z"]


def test_the_sensor_lists_s3_and_sees_a_new_object(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    s3 = S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1")
    client = s3.get_client()
    root = f"s3://{s3_bucket}/lake"
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, root, s3)
        client.put_object(Bucket=s3_bucket, Key="lake/customer/landing/c1.json", Body=b"{}\n")
        client.put_object(Bucket=s3_bucket, Key="lake/customer/landing/_SUCCESS", Body=b"")
        assert len(requested_assets(sensor.tick())) == 5
        assert isinstance(sensor.tick(), dg.SkipReason)
        client.put_object(Bucket=s3_bucket, Key="lake/step_trainer/landing/s.json", Body=b"{}\n")
        assert requested_assets(sensor.tick()) == [
            "machine_learning_curated",
            "step_trainer_trusted",
        ]


def test_an_object_rewritten_with_the_same_size_in_the_same_second_is_seen(
    s3_endpoint: str, s3_bucket: str
) -> None:
    """S3's LastModified has a resolution of one second: the listing every run and the sensor
    share fingerprints an object by its ETag, which its content moves."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    store = landing_store(LakeLayout(f"s3://{s3_bucket}/lake"), lambda: client)
    store.write("customer", "c.json", b'{"consent": 1}\n')
    (before,) = store.list_files("customer")
    store.write("customer", "c.json", b'{"consent": 0}\n')
    (after,) = store.list_files("customer")
    assert (before.key, before.size) == (after.key, after.size)
    assert before.fingerprint != after.fingerprint


def test_the_sensor_pages_through_thousands_of_keys(s3_endpoint: str, s3_bucket: str) -> None:
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for number in range(2500):
        client.put_object(
            Bucket=s3_bucket, Key=f"lake/accelerometer/landing/{number:05}.json", Body=b"{}\n"
        )
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, f"s3://{s3_bucket}/lake", S3Resource(endpoint_url=s3_endpoint))
        result = sensor.tick()
        assert result.asset_events[0].metadata["new_files"].value == 2500


def test_glue_registration_is_idempotent(s3_endpoint: str) -> None:
    catalog = GlueCatalog(boto3.client("glue", endpoint_url=s3_endpoint), "idempotent")
    columns = [CatalogColumn("x", "double", "first")]
    catalog.register(delta_table_input("t", "s3a://b/p/t", columns, "first version"))
    columns = [CatalogColumn("x", "double", "second")]
    catalog.register(delta_table_input("t", "s3a://b/p/t", columns, "second version"))
    (table,) = catalog.client.get_tables(DatabaseName="idempotent")["TableList"]
    assert table["Description"] == "second version"
    assert table["StorageDescriptor"]["Columns"] == [
        {"Name": "x", "Type": "double", "Comment": "second"}
    ]
    assert table["StorageDescriptor"]["Location"] == "s3://b/p/t"


def test_credentials_never_reach_logs_the_instance_or_spark(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """The documented command on S3 with distinctive credentials in the environment: neither
    the key id nor the secret appears in the instance's storage (run config, event log,
    metadata), the captured compute logs, or the Dagster and Spark output of the run."""
    local = tmp_path / "lake"
    write_sample_landing(local, customers=30, seed=5)
    s3_root = f"s3://{s3_bucket}/stedi"
    upload_landing(local, s3_root, s3_endpoint)
    home = dagster_home(tmp_path / "dagster_home")
    completed = materialize_with_cli(
        s3_root,
        home,
        STEDI_SPARK_DRIVER_MEMORY="1g",
        STEDI_GLUE_DATABASE="stedi_secrets",
        STEDI_GLUE_ENDPOINT=s3_endpoint,
    )
    (home / "cli-output.log").write_text(completed.stdout + completed.stderr)
    secrets = [
        S3_TEST_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        S3_TEST_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
    ]
    assert "machine_learning_curated" in completed.stderr  # the run's log was captured
    assert any(home.rglob("*.db"))
    assert files_containing(home, secrets) == {}


def test_s3_going_away_mid_run_fails_it_cleanly_and_the_next_run_recovers(
    s3_endpoint: str, spark: SparkSession, tmp_path: Path
) -> None:
    """A second S3 server (moto keeps its buckets in the test process, so they outlive it) is
    stopped once the run has published its first table: the run fails, naming the endpoint,
    and every table is either whole or absent; with S3 back, the next run is complete.
    (Polling S3 for the first commit is how the test knows the run is under way.)"""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="stedi-outage")
    local = tmp_path / "lake"
    write_sample_landing(local, customers=40, seed=13)
    s3_root = "s3://stedi-outage/lake"
    upload_landing(local, s3_root, endpoint)
    environment = {
        **os.environ,
        "STEDI_LAKE": s3_root,
        "STEDI_S3_ENDPOINT": endpoint,
        "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster_home")),
        "STEDI_SPARK_DRIVER_MEMORY": "1g",
    }
    run = subprocess.Popen(
        materialize_command(), env=environment, stderr=subprocess.PIPE, text=True
    )
    first_commit = "lake/customer/trusted/_delta_log/00000000000000000000.json"
    deadline = time.monotonic() + 600
    while "Contents" not in s3.list_objects_v2(Bucket="stedi-outage", Prefix=first_commit):
        assert run.poll() is None and time.monotonic() < deadline, "no table was published"
        time.sleep(0.1)
    server.stop()
    _, stderr = run.communicate(timeout=600)
    assert run.returncode != 0
    assert f"127.0.0.1:{port}" in stderr and "RUN_FAILURE" in stderr

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for table in ZONE_TABLE_PATHS.values():  # each table: no commit, or whole
            log = s3.list_objects_v2(Bucket="stedi-outage", Prefix=f"lake/{table}/_delta_log/")
            commits = [o["Key"] for o in log.get("Contents", []) if o["Key"].endswith(".json")]
            assert len(commits) <= 1, table
        # The session's own S3 server sees the same buckets (moto keeps them in this process):
        # the next run goes through it.
        assert materialize_lake(s3_root, spark).success
        on_s3, expected = tables(spark, LakeLayout(s3_root)), compute_expected(local)
        for table in ZONE_TABLE_PATHS:
            assert on_s3[table] == Counter(getattr(expected, table)) and on_s3[table], table
    finally:
        server.stop()
