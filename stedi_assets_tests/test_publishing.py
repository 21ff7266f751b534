"""A table that fails a blocking check is not published: readers keep the previous Delta version
and downstream assets do not run. The failure says which check, with counts."""

import dataclasses
import hashlib
from pathlib import Path
from typing import cast

import deltalake
import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

import stedi_assets.builds.trusted as trusted_builds
from stedi_assets.contract.accounting import TrustedBuild
from stedi_assets.publishing import flow as publishing
from stedi_assets.publishing.publication import Publication
from stedi_assets.storage import delta_tables
from stedi_assets.tables.catalogue import (
    ACCELEROMETER_TRUSTED_TABLE,
    CURRENT_CUSTOMERS,
    CUSTOMER_TRUSTED_TABLE,
    LakeTable,
)
from stedi_assets_tests.conftest import LandingWriter
from stedi_assets_tests.lakes import HAND_MADE_TIMES, materialize_lake, read_rows

CONSENTING = {
    "email": "ann@x.com",
    "serialNumber": "S1",
    "lastUpdateDate": 1,
    "shareWithResearchAsOfDate": 1,
}
REFUSING = {"email": "bob@x.com", "serialNumber": "S2", "lastUpdateDate": 1}


def reading(user: str) -> dict:
    return {"user": user, "timestamp": 10, "x": 1.0, "y": 1.0, "z": 1.0}


def leak_bobs_reading(build: TrustedBuild) -> TrustedBuild:
    """A deliberate bug: the non-consenting customer's reading slips into the table."""
    spark = build.rows.sparkSession
    leaked = spark.createDataFrame([reading("bob@x.com")], build.rows.schema)
    return dataclasses.replace(build, rows=build.rows.unionByName(leaked))


def version(spark: SparkSession, uri: Path) -> int:
    return DeltaTable.forPath(spark, str(uri)).history(1).first()["version"]


def test_a_privacy_failure_blocks_publishing_and_downstream(
    spark: SparkSession,
    lake_root: Path,
    write_landing: LandingWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_landing("customer", "c.json", [CONSENTING, REFUSING])
    write_landing("accelerometer", "a.json", [reading("ann@x.com"), reading("bob@x.com")])
    write_landing(
        "step_trainer",
        "s.json",
        [{"sensorReadingTime": 10, "serialNumber": "S1", "distanceFromObject": 3}],
    )
    assert materialize_lake(lake_root, spark, **HAND_MADE_TIMES).success
    table = lake_root / "accelerometer/trusted"
    published = read_rows(spark, table)
    published_version = version(spark, table)
    curated_version = version(spark, lake_root / "customer/curated")
    assert [row[0] for row in published] == ["ann@x.com"]

    original_build = trusted_builds.build_accelerometer_trusted
    monkeypatch.setattr(
        trusted_builds,
        "build_accelerometer_trusted",
        lambda *args: leak_bobs_reading(original_build(*args)),
    )
    # A rebuild forced: the build records see changes to the code's files, not a monkeypatch.
    result = materialize_lake(lake_root, spark, full_refresh=True, **HAND_MADE_TIMES)

    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["accelerometer_trusted"]
    assert "not published" in failures[0].step_failure_data.error.message
    checks = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "accelerometer_trusted"
    }
    assert not checks["only_consenting_customers"].passed
    assert checks["only_consenting_customers"].metadata["violating_rows"].value == 1
    (example,) = checks["only_consenting_customers"].metadata["examples"].value
    # The user as a hash salted with a secret of the run: no one can find Bob from it.
    assert set(example) == {"user_hash", "timestamp"} and example["timestamp"] == 10
    assert example["user_hash"] not in {
        hashlib.sha256(text).hexdigest()[:length]
        for text in (b"bob@x.com", b"Bob@x.com")
        for length in (12, 16)
    }
    assert not checks["accounting_balances"].passed  # 2 rows, but 1 line was kept
    assert checks["schema"].passed
    # Readers still see the previous version; downstream did not run.
    assert read_rows(spark, table) == published
    assert version(spark, table) == published_version
    assert version(spark, lake_root / "customer/curated") == curated_version
    assert not result.asset_materializations_for_node("customers_curated")
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"customer_trusted", "accelerometer_trusted"}


def test_a_table_made_before_the_lake_set_its_properties_gets_them_at_its_next_full_build(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Delta's session defaults reach new tables only: on a lake written before the change data
    feed was on every increment that reads a table's changes would fail, a table made with
    column statistics on would go on copying personal values into its log, and one with
    deletion vectors stays unreadable by `deltalake` until the feature is dropped."""
    uri = str(tmp_path / "made_before")
    spark.sql(
        f"CREATE TABLE delta.`{uri}` (email STRING) USING delta TBLPROPERTIES "
        "('delta.enableChangeDataFeed' = 'false', 'delta.enableDeletionVectors' = 'true', "
        "'delta.dataSkippingNumIndexedCols' = '32')"
    )
    emails = spark.createDataFrame([(f"person{n}@example.com",) for n in range(5)], ["email"])

    built = delta_tables.overwrite(emails.where("email < 'person3'"), uri, "the build")
    assert delta_tables.latest_commit(spark, uri) == (built, "the build")
    delta_tables.append(emails.where("email >= 'person3'"), uri, "an increment")

    added = delta_tables.changes(spark, uri, built, built + 1)
    assert sorted(row["email"] for row in added.collect()) == [
        "person3@example.com",
        "person4@example.com",
    ]
    properties = {
        row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES delta.`{uri}`").collect()
    }
    assert properties["delta.enableDeletionVectors"] == "false"
    assert "delta.feature.deletionVectors" not in properties
    assert deltalake.DeltaTable(uri).protocol().reader_features is None
    assert len(deltalake.DeltaTable(uri).to_pyarrow_table()) == 5
    for version in (built, built + 1):
        commit = (Path(uri) / "_delta_log" / f"{version:020d}.json").read_text()
        assert '"add"' in commit
        assert "example.com" not in commit, f"version {version} keeps statistics"


@pytest.mark.parametrize("leftover", [False, True], ids=["no folder", "files of a killed write"])
def test_a_full_build_of_a_new_table_sets_no_property_by_hand(
    spark: SparkSession, tmp_path: Path, leftover: bool
) -> None:
    """A new table has the lake's properties from the session's defaults: its first build is
    its first commit, with no `SET TBLPROPERTIES` before it; also where a first write that was
    killed left its data files and no Delta log."""
    uri = str(tmp_path / "new_table")
    if leftover:
        spark.range(2).write.parquet(uri)
    version = delta_tables.overwrite(spark.range(3), uri, "the first build")
    assert version == 0
    operations = [
        row["operation"] for row in spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").collect()
    ]
    assert operations == ["WRITE"]
    assert delta_tables.read_table(spark, uri).count() == 3


def test_a_build_writing_an_undeclared_companion_table_fails_before_writing() -> None:
    """The next run plans an increment only on companions that carry the table's marker, and
    it knows them from the catalogue: a companion written but not declared there would let a
    run stopped between it and the table go unnoticed."""
    declared = CURRENT_CUSTOMERS
    undeclared = LakeTable("customer_history", "customer/history")
    rows = cast(DataFrame, object())

    def publication(*companions: LakeTable) -> Publication:
        return Publication(
            rows, lambda rows: rows, companion_tables=[(c, rows) for c in companions]
        )

    assert publishing._declared_companions(CUSTOMER_TRUSTED_TABLE, publication(declared)) == [
        (declared, rows)
    ]
    for wrong in [(), (undeclared,), (declared, undeclared)]:
        with pytest.raises(ValueError, match=r"customer_trusted writes the companion tables"):
            publishing._declared_companions(CUSTOMER_TRUSTED_TABLE, publication(*wrong))
    with pytest.raises(ValueError, match=r"declares \[\]"):
        publishing._declared_companions(ACCELEROMETER_TRUSTED_TABLE, publication(declared))
