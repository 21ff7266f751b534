"""The same project on S3, by configuration alone: the whole graph materializes through s3a
against a real S3-compatible HTTP server on loopback, with the same tables as on a folder."""

from collections import Counter
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from pyspark.sql import SparkSession

from stedi_assets.catalog.glue import CatalogColumn, GlueCatalog, delta_table_input
from stedi_assets.lake import LANDING_SOURCES, Lake
from stedi_assets.landing.store import landing_store
from stedi_assets.sample_data import write_sample_landing
from stedi_assets_tests.lakes import TABLE_PATHS as ZONE_TABLE_PATHS
from stedi_assets_tests.lakes import materialize_lake
from stedi_assets_tests.reference_contract import compute_expected
from stedi_assets_tests.test_sensors import Sensor, requested_assets

pytestmark = pytest.mark.s3


TABLE_PATHS = {
    **ZONE_TABLE_PATHS,
    "customer_quarantine": "customer/quarantine",
    "accelerometer_quarantine": "accelerometer/quarantine",
    "step_trainer_quarantine": "step_trainer/quarantine",
}


def upload_landing(local_root: Path, s3_root: str, endpoint: str) -> None:
    store = landing_store(Lake(s3_root), lambda: boto3.client("s3", endpoint_url=endpoint))
    for source in LANDING_SOURCES:
        for path in sorted((local_root / source / "landing").iterdir()):
            store.write(source, path.name, path.read_bytes())


def tables(spark: SparkSession, lake: Lake) -> dict[str, Counter]:
    def rows(path: str) -> Counter:
        frame = spark.read.format("delta").load(lake.uri(path))
        if "source_file" in frame.columns:  # quarantine: the file's name, not its URI
            frame = frame.selectExpr("regexp_extract(source_file, '[^/]+$', 0)", "line_number")
        return Counter(tuple(row) for row in frame.collect())

    return {name: rows(path) for name, path in TABLE_PATHS.items()}


def test_the_graph_on_s3_gives_the_same_tables_as_on_a_folder(
    spark: SparkSession, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    local = tmp_path / "lake"
    write_sample_landing(local, customers=60, seed=11)
    s3_root = f"s3://{s3_bucket}/stedi"
    upload_landing(local, s3_root, s3_endpoint)

    glue = {"glue_database": "stedi", "glue_endpoint": s3_endpoint}
    assert materialize_lake(s3_root, spark, **glue).success
    assert materialize_lake(local, spark).success

    on_s3, on_folder = tables(spark, Lake(s3_root)), tables(spark, Lake(str(local)))
    assert on_s3 == on_folder
    expected = compute_expected(local)
    for table in ("customer_trusted", "machine_learning_curated"):
        assert on_s3[table] == Counter(getattr(expected, table)) and on_s3[table]
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
