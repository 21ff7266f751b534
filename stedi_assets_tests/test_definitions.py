"""The Definitions load, with the graph, groups, checks and executor the project promises."""

import shutil

import dagster as dg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator

from stedi_assets import defs, settings
from stedi_assets.orchestration.resources import lake_resource
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.spark import spark_config
from stedi_assets.tables.catalogue import ZONE_TABLES

ZONE_ASSETS = {
    "customer_trusted": ("trusted", {"customer_landing"}),
    "accelerometer_trusted": ("trusted", {"accelerometer_landing", "customer_trusted"}),
    "step_trainer_trusted": (
        "trusted",
        {"step_trainer_landing", "customer_trusted", "customers_curated"},
    ),
    "customers_curated": ("curated", {"customer_trusted", "accelerometer_trusted"}),
    "machine_learning_curated": (
        "curated",
        {"step_trainer_trusted", "accelerometer_trusted", "customers_curated"},
    ),
}
LANDING_ASSETS = {"customer_landing", "accelerometer_landing", "step_trainer_landing"}


def test_the_graph_has_eight_assets_in_three_groups_with_the_contract_lineage() -> None:
    graph = defs().resolve_asset_graph()
    nodes = {node.key.to_user_string(): node for node in graph.asset_nodes}
    assert set(nodes) == LANDING_ASSETS | set(ZONE_ASSETS)
    for name in LANDING_ASSETS:
        assert nodes[name].group_name == "landing" and not nodes[name].is_materializable
    for name, (group, parents) in ZONE_ASSETS.items():
        node = nodes[name]
        assert node.group_name == group
        assert {key.to_user_string() for key in node.parent_keys} == parents
        assert node.description and "consent" in node.description.lower()


def test_every_zone_table_has_blocking_schema_and_privacy_checks() -> None:
    graph = defs().resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    for name, (group, _) in ZONE_ASSETS.items():
        assert (name, "schema") in checks
        assert ((name, "accounting_balances") in checks) == (group == "trusted")
    blocking = [
        spec
        for assets_def in defs().assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.check_specs
        if spec.name not in ("no_quarantined_lines", "no_erased_lines")
    ]
    assert len(blocking) == 5 * 2 + 3 and all(spec.blocking for spec in blocking)


def test_the_catalogue_names_the_checks_the_graph_has() -> None:
    """The summary learns each table's checks from the leaf catalogue: they are the graph's."""
    graph = defs().resolve_asset_graph()
    for table in ZONE_TABLES:
        in_graph = {
            key.name for key in graph.asset_check_keys if key.asset_key.path == [table.name]
        }
        assert set(table.check_names) == in_graph and "" not in in_graph


def test_runs_use_one_process_and_one_spark_session() -> None:
    job = defs().resolve_implicit_global_asset_job_def()
    assert job.executor_def is dg.in_process_executor


def test_a_spark_connect_endpoint_is_a_url_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEDI_SPARK_REMOTE", "sc://spark.example:443/;token=dapi-secret-0001")
    with pytest.raises(ValueError, match="SPARK_CONNECT_AUTHENTICATE_TOKEN") as refused:
        spark_config()
    assert "dapi-secret-0001" not in str(refused.value)
    monkeypatch.setenv("STEDI_SPARK_REMOTE", "localhost:15002")
    with pytest.raises(ValueError, match="STEDI_SPARK_REMOTE='localhost:15002' is not a Spark"):
        spark_config()
    monkeypatch.setenv("STEDI_SPARK_REMOTE", "sc://spark.example:443/;use_ssl=true")
    monkeypatch.setenv("STEDI_SPARK_CONF", "spark.sql.ansi.enabled=true")
    config = spark_config()
    assert config["spark.remote"] == "sc://spark.example:443/;use_ssl=true"
    assert config["spark.sql.session.timeZone"] == "UTC" and "spark.master" not in config
    assert config["spark.sql.ansi.enabled"] == "true"
    assert not any("ClassPath" in key or "extensions" in key for key in config)


def test_spark_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEDI_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("STEDI_SPARK_DRIVER_MEMORY", "3g")
    monkeypatch.setenv("STEDI_SPARK_CONF", "spark.sql.ansi.enabled=true")
    config = spark_config()
    assert config["spark.master"] == "local[1]"
    assert config["spark.driver.memory"] == "3g"
    assert config["spark.sql.ansi.enabled"] == "true"
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert "delta-spark" in config["spark.driver.extraClassPath"]


def test_default_driver_memory_is_sized_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEDI_SPARK_DRIVER_MEMORY", raising=False)
    megabytes = int(spark_config()["spark.driver.memory"].removesuffix("m"))
    assert megabytes > 1024  # Spark's 1 GiB default runs out of memory near 10 M rows


def test_a_wrong_consent_policy_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEDI_CONSENT_POLICY", "sometimes")
    with pytest.raises(ValueError, match=r"STEDI_CONSENT_POLICY='sometimes'.*since_consent"):
        settings.consent_policy()


def test_the_increment_threshold_is_read_from_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STEDI_INCREMENT_MIN_ROWS")
    assert lake_resource().increment_min_rows == settings.DEFAULT_INCREMENT_MIN_ROWS
    monkeypatch.setenv("STEDI_INCREMENT_MIN_ROWS", "5")
    assert lake_resource().increment_min_rows == 5
    monkeypatch.setenv("STEDI_INCREMENT_MIN_ROWS", "-5")
    with pytest.raises(ValueError, match="STEDI_INCREMENT_MIN_ROWS=-5 is negative"):
        lake_resource()


def test_on_a_spark_connect_server_the_reading_tables_grow_by_increments_at_any_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs on a warm Spark Connect server (`make ui`) increment a table of sensor readings
    with new landing files whatever its size, and keep the threshold for the others and for a
    change upstream alone; a threshold set in the environment holds for every table, and runs
    with a Spark of their own keep it too."""
    monkeypatch.delenv("STEDI_INCREMENT_MIN_ROWS")
    monkeypatch.setenv("STEDI_SPARK_REMOTE", "sc://localhost:15002")
    lake = lake_resource()
    sources = ("customer", "accelerometer", "step_trainer", None)
    default = settings.DEFAULT_INCREMENT_MIN_ROWS
    assert {source: lake.increment_min_rows_for(source, True) for source in sources} == {
        "customer": default, "accelerometer": 0, "step_trainer": 0, None: default
    }  # fmt: skip
    assert {lake.increment_min_rows_for(source, False) for source in sources} == {default}
    monkeypatch.setenv("STEDI_INCREMENT_MIN_ROWS", str(default))
    assert lake_resource().increment_min_rows_for("accelerometer", True) == default
    monkeypatch.delenv("STEDI_INCREMENT_MIN_ROWS")
    monkeypatch.delenv("STEDI_SPARK_REMOTE")
    assert lake_resource().increment_min_rows_for("step_trainer", True) == default


def test_a_full_refresh_is_asked_for_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEDI_FULL_REFRESH", raising=False)
    assert lake_resource().full_refresh is False
    monkeypatch.setenv("STEDI_FULL_REFRESH", "1")
    assert lake_resource().full_refresh is True
    monkeypatch.setenv("STEDI_FULL_REFRESH", "yes please")
    with pytest.raises(ValueError, match=r"STEDI_FULL_REFRESH='yes please'.*1, true, 0, false"):
        lake_resource()


def test_the_instance_retries_only_runs_that_ask_for_it(tmp_path) -> None:
    """dagster.yaml enables run retries with none by default: the sensor's runs ask for two."""
    shutil.copy(settings.PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 0


def test_the_queue_starts_one_run_at_a_time_within_a_second(tmp_path) -> None:
    """Delta tables on one driver assume a single writer; and a run the landing sensor requests
    should not wait Dagster's default five seconds for the daemon to look at the queue."""
    shutil.copy(settings.PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs == 1
        assert coordinator.dequeue_interval_seconds == 1


def test_missing_jars_say_how_to_get_them(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("STEDI_JARS_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="make setup"):
        spark_config()


def test_an_s3_root_is_read_through_s3a_and_a_folder_absolutely(tmp_path, monkeypatch) -> None:
    assert LakeLayout("s3://bucket/p/").uri("customer/trusted") == "s3a://bucket/p/customer/trusted"
    monkeypatch.chdir(tmp_path)
    assert LakeLayout("lake").landing("customer") == f"{tmp_path}/lake/customer/landing"


def test_the_erasure_job_takes_a_hash_never_an_email() -> None:
    """Given an email where the hash belongs, it stops before touching the lake."""
    job = defs().get_job_def("erase_customer_job")
    config = {"ops": {"erase_customer": {"config": {"email_hash": "ann@example.com"}}}}
    with pytest.raises(ValueError, match=r"email_hash\n.*should match pattern '\^\[0-9a-f\]"):
        job.execute_in_process(run_config=config)


def test_old_versions_are_vacuumed_every_night_by_default() -> None:
    schedule = defs().resolve_schedule_def("vacuum_schedule")
    assert schedule.job_name == "vacuum_job" and schedule.cron_schedule == "0 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_every_row_is_audited_for_privacy_every_night_after_the_vacuum_by_default() -> None:
    """A run checks the rows it changes; the audit, a job of its own (an asset check would run
    with every materialization), checks every row."""
    schedule = defs().resolve_schedule_def("privacy_audit_schedule")
    assert schedule.job_name == "privacy_audit_job" and schedule.cron_schedule == "0 4 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    asset_job = defs().resolve_implicit_global_asset_job_def()
    assert "audit_privacy" not in {node.name for node in asset_job.nodes}


def test_plausible_ranges_and_secrets_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEDI_MAX_DISTANCE", "400")
    monkeypatch.setenv("STEDI_EARLIEST_TIME", "2020-06-01")
    monkeypatch.setenv("STEDI_MAX_ACCELERATION", "12.5")
    monkeypatch.setenv("STEDI_ERASURE_SALT", "pepper")
    lake = lake_resource()
    # The UI shows the variables' names, never their values; a run reads the values.
    assert isinstance(lake.erasure_salt, dg.EnvVar)
    assert [lake.max_distance.env_var_name, lake.earliest_time.env_var_name] == [
        "STEDI_MAX_DISTANCE",
        "STEDI_EARLIEST_TIME",
    ]
    resolved = lake.process_config_and_initialize()
    assert (resolved.max_distance, resolved.earliest_time) == (400, "2020-06-01")
    assert (resolved.max_acceleration, resolved.erasure_salt) == (12.5, "pepper")
    monkeypatch.setenv("STEDI_MAX_ACCELERATION", "lots")
    with pytest.raises(ValueError, match="STEDI_MAX_ACCELERATION='lots' is not a number"):
        lake_resource()


def test_s3_errors_are_retried_with_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """s3a retries transient errors a few times, not for minutes (its defaults)."""
    monkeypatch.setenv("STEDI_LAKE", "s3://bucket/lake")
    config = spark_config()
    assert config["spark.hadoop.fs.s3a.attempts.maximum"] == "3"
    assert config["spark.hadoop.fs.s3a.retry.limit"] == "3"
    assert config["spark.hadoop.fs.s3a.retry.interval"] == "500ms"
    assert config["spark.hadoop.fs.s3a.connection.establish.timeout"] == "5s"
