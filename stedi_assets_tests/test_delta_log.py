"""A Spark Connect client reads the commits of a table on this machine's disk from its Delta
log's files, with the same answers a classic session gets from Delta, and asks the server for
none of them (each question is a Spark job and a round trip there)."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets.storage import delta_log, delta_tables
from stedi_assets.storage.landing_store import FolderLandingStore


class ServerNeverAsked:
    """Stands for a Spark Connect session (no JVM in this process) that fails if asked."""

    def sql(self, statement: str) -> None:
        raise AssertionError(f"asked the server: {statement}")


@pytest.fixture
def table(spark: SparkSession, tmp_path: Path) -> str:
    uri = str(tmp_path / "table")
    delta_tables.overwrite(spark.range(3), uri, "the build")
    delta_tables.append(spark.range(3, 5), uri, "an increment")
    return uri


def test_a_connect_client_reads_a_local_tables_commits_from_its_log(
    spark: SparkSession, table: str
) -> None:
    remote = ServerNeverAsked()
    assert delta_tables.latest_commit(remote, table) == (1, "an increment")
    assert delta_tables.latest_commit(remote, table) == delta_tables.latest_commit(spark, table)
    assert delta_tables.latest_version(remote, table) == 1
    commits = delta_tables.commits_since(remote, table, -1, 1)
    assert commits == delta_tables.commits_since(spark, table, -1, 1)
    assert [(c.version, c.operation, c.user_metadata) for c in commits or []] == [
        (0, "WRITE", "the build"),
        (1, "WRITE", "an increment"),
    ]


def test_a_log_that_no_longer_holds_a_commit_or_no_table_at_all(table: str, tmp_path: Path) -> None:
    remote = ServerNeverAsked()
    assert delta_tables.latest_commit(remote, str(tmp_path / "nothing here")) is None
    (Path(table) / "_delta_log" / f"{0:020d}.json").unlink()  # as Delta's log cleanup does
    assert delta_tables.commits_since(remote, table, -1, 1) is None
    assert delta_tables.commits_since(remote, table, 0, 1) is not None


def test_only_a_table_on_this_machines_disk_is_read_from_its_files() -> None:
    for uri in ("/lake/customer/trusted", "file:///lake/customer/trusted"):
        files, path = delta_log.on_local_disk(uri) or (None, "")
        assert files == FolderLandingStore(Path("/lake/customer")) and path == "trusted", uri
    assert delta_log.on_local_disk("s3a://bucket/lake/customer/trusted") is None
