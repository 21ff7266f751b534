"""The landing sensor with a real Dagster instance: the right assets, once, whatever happens."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.tags import RUN_FAILURE_REASON_TAG
from dagster_aws.s3 import S3Resource

from stedi_assets import defs
from stedi_assets.orchestration.resources import LakeResource
from stedi_assets.orchestration.sensors import SENSOR_NAME, decode_cursor, landing_files_sensor

ALL_ZONE_TABLES = [
    "accelerometer_trusted",
    "customer_trusted",
    "customers_curated",
    "machine_learning_curated",
    "step_trainer_trusted",
]


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


class Sensor:
    """Evaluates the sensor like the daemon does: the cursor survives between ticks only
    through the instance's storage (here: the value the last tick returned)."""

    def __init__(self, instance: dg.DagsterInstance, root: str, s3: S3Resource | None = None):
        self.instance, self.root, self.cursor = instance, root, None
        self.s3 = s3 or S3Resource(region_name="us-east-1")

    def tick(self) -> dg.SensorResult | dg.SkipReason:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            repository_def=defs().get_repository_def(),
            resources={"lake": LakeResource(root=self.root), "s3": self.s3},
        )
        result = landing_files_sensor(minimum_interval_seconds=30)(context)
        if isinstance(result, dg.SensorResult):
            self.cursor = result.cursor
        return result


def requested_assets(result: dg.SensorResult | dg.SkipReason) -> list[str]:
    assert isinstance(result, dg.SensorResult), getattr(result, "skip_message", result)
    (request,) = result.run_requests
    # A run whose worker died is retried by the daemon, a bounded number of times, every step
    # again; a run a step failed (a failed check) is not.
    assert request.tags["dagster/max_retries"] == "2"
    assert request.tags["dagster/retry_strategy"] == "ALL_STEPS"
    assert request.tags["dagster/retry_on_asset_or_op_failure"] == "false"
    return sorted(key.to_user_string() for key in request.asset_selection)


def land(root: Path, source: str, name: str, text: str = '{"a": 1}\n') -> Path:
    folder = root / source / "landing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("customer", ALL_ZONE_TABLES),
        (
            "accelerometer",
            [
                "accelerometer_trusted",
                "customers_curated",
                "machine_learning_curated",
                "step_trainer_trusted",
            ],
        ),
        ("step_trainer", ["machine_learning_curated", "step_trainer_trusted"]),
    ],
)
def test_a_new_file_materializes_exactly_what_it_feeds_once(
    instance: dg.DagsterInstance, tmp_path: Path, source: str, expected: list[str]
) -> None:
    sensor = Sensor(instance, str(tmp_path))
    assert isinstance(sensor.tick(), dg.SkipReason)  # nothing has landed yet
    land(tmp_path, source, "part-1.json")
    result = sensor.tick()
    assert requested_assets(result) == expected
    (event,) = result.asset_events
    assert event.asset_key == dg.AssetKey(f"{source}_landing")
    assert event.metadata["new_files"].value == 1
    assert event.metadata["arrived_keys"].value == [f"{source}/landing/part-1.json"]
    assert isinstance(sensor.tick(), dg.SkipReason)  # once


def test_files_sharing_a_timestamp_and_hidden_files(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    sensor = Sensor(instance, str(tmp_path))
    first = land(tmp_path, "accelerometer", "a.json")
    sensor.tick()
    second = land(tmp_path, "accelerometer", "b.json")
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))
    land(tmp_path, "accelerometer", "_SUCCESS")
    land(tmp_path, "accelerometer", ".c.json.partial")
    result = sensor.tick()
    assert result.asset_events[0].metadata["arrived_keys"].value == ["accelerometer/landing/b.json"]


def test_rewritten_and_deleted_files_trigger_a_rebuild(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    sensor = Sensor(instance, str(tmp_path))
    kept = land(tmp_path, "step_trainer", "keep.json")
    doomed = land(tmp_path, "step_trainer", "doomed.json")
    sensor.tick()
    kept.write_text('{"a": 2, "rewritten": true}\n')
    result = sensor.tick()
    assert result.asset_events[0].metadata["rewritten_files"].value == 1
    doomed.unlink()
    result = sensor.tick()
    assert result.asset_events[0].metadata["deleted_keys"].value == [
        "step_trainer/landing/doomed.json"
    ]
    assert requested_assets(result) == ["machine_learning_curated", "step_trainer_trusted"]


def test_a_burst_of_files_is_one_run_and_the_cursor_survives_a_restart(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    sensor = Sensor(instance, str(tmp_path))
    for number in range(100):
        land(tmp_path, "accelerometer", f"burst-{number:03}.json")
    result = sensor.tick()
    assert len(result.run_requests) == 1
    assert result.asset_events[0].metadata["new_files"].value == 100
    restarted = Sensor(instance, str(tmp_path))
    restarted.cursor = sensor.cursor  # what the daemon reads back after a restart
    assert isinstance(restarted.tick(), dg.SkipReason)
    assert len(decode_cursor(sensor.cursor).listing["accelerometer"]) == 100


def test_files_arriving_during_a_run_wait_for_it_and_are_not_lost(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    sensor = Sensor(instance, str(tmp_path))
    land(tmp_path, "customer", "first.json")
    sensor.tick()
    run = instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id="0f0f0f0f-0000-4000-8000-000000000001",
            status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/sensor_name": SENSOR_NAME},
        )
    )
    land(tmp_path, "step_trainer", "during-the-run.json")
    waiting = sensor.tick()
    assert isinstance(waiting, dg.SkipReason) and run.run_id in waiting.skip_message
    instance.report_run_failed(run)  # the run ends (how it ends does not matter)
    result = sensor.tick()
    assert requested_assets(result) == ["machine_learning_curated", "step_trainer_trusted"]
    assert result.asset_events[0].metadata["arrived_keys"].value == [
        "step_trainer/landing/during-the-run.json"
    ]


def test_run_keys_differ_when_a_listing_returns_to_an_earlier_state(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """A file deleted and uploaded again unchanged, twice: four changes, four run keys (Dagster
    launches a run key once), also when the sensor's cursor is reset."""
    sensor = Sensor(instance, str(tmp_path))
    land(tmp_path, "customer", "a.json")
    keys = [sensor.tick().run_requests[0].run_key]
    for _ in range(2):
        content = land(tmp_path, "customer", "b.json").read_bytes()
        keys.append(sensor.tick().run_requests[0].run_key)
        (tmp_path / "customer/landing/b.json").unlink()
        keys.append(sensor.tick().run_requests[0].run_key)
        (tmp_path / "customer/landing/b.json").write_bytes(content)
        keys.append(sensor.tick().run_requests[0].run_key)
        (tmp_path / "customer/landing/b.json").unlink()
    sensor.cursor = None  # reset in the UI: every file is new again
    keys.append(sensor.tick().run_requests[0].run_key)
    assert len(keys) == len(set(keys)) == 8


def failed_run(instance: dg.DagsterInstance, reason: RunFailureReason, tags: dict) -> dg.DagsterRun:
    run = instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.FAILURE,
            tags={**tags, RUN_FAILURE_REASON_TAG: reason.value},
        )
    )
    return run


def test_a_run_a_failed_check_stopped_is_not_retried_one_whose_worker_died_is(
    tmp_path: Path,
) -> None:
    """With the project's dagster.yaml (run retries on), Dagster's own rule for the daemon:
    a sensor run that failed in a step (a blocking check failed) is not run again; one whose
    run worker died is. (A step that failed for a reason a retry can fix retries itself:
    `transient`.)"""
    with dg.instance_for_test(
        overrides={"run_retries": {"enabled": True, "max_retries": 0}}
    ) as instance:
        sensor = Sensor(instance, str(tmp_path))
        land(tmp_path, "customer", "a.json")
        (request,) = sensor.tick().run_requests
        check_failed = failed_run(instance, RunFailureReason.STEP_FAILURE, request.tags)
        worker_died = failed_run(instance, RunFailureReason.UNEXPECTED_TERMINATION, request.tags)
        assert not auto_reexecution_should_retry_run(
            instance, check_failed, RunFailureReason.STEP_FAILURE
        )
        assert auto_reexecution_should_retry_run(
            instance, worker_died, RunFailureReason.UNEXPECTED_TERMINATION
        )


def test_tens_of_thousands_of_files_fit_a_small_cursor(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    folder = tmp_path / "accelerometer" / "landing"
    folder.mkdir(parents=True)
    for number in range(30_000):
        (folder / f"2026-11-27T{number:06}.json").write_bytes(b"{}\n")
    sensor = Sensor(instance, str(tmp_path))
    result = sensor.tick()
    assert result.asset_events[0].metadata["new_files"].value == 30_000
    assert len(decode_cursor(sensor.cursor).listing["accelerometer"]) == 30_000
    assert len(sensor.cursor) < 1_000_000  # compressed: well within Dagster's cursor storage
    (folder / "2026-11-27T000042.json").unlink()
    result = sensor.tick()
    assert result.asset_events[0].metadata["deleted_files"].value == 1
