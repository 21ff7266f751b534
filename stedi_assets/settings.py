"""Every environment variable the project reads, in one place.

Deployments differ only by these variables: the lake root (a folder or S3), the consent policy
and the Spark sizing. Defaults make a laptop run work with no configuration at all.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LAKE = "lake"
DEFAULT_AWS_REGION = "us-east-1"
DEFAULT_HISTORY_RETENTION_HOURS = 168.0
"""Delta's own default: a week."""
DEFAULT_INCREMENT_MIN_ROWS = 100_000
"""Below this many rows a changed table is rebuilt: on the 1x lake (64,600 phone readings, the
largest table) four of the five tables took longer to change by an increment than to rebuild
(`STEDI_INCREMENT_MIN_ROWS=0 python benchmarks/run_profile.py --after consents`): its Delta merges
and second reads cost more than the rows they spare. From 10x the reading tables are larger, and
grow by increments."""


def is_set(variable: str) -> bool:
    """Whether the environment sets `variable` (to anything but the empty string)."""
    return bool(os.environ.get(variable))


def _number(variable: str, default: float, kind: type[int] | type[float]) -> Any:
    """The variable as an int or float, or `default` when unset; a clear error otherwise."""
    value = os.environ.get(variable)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise ValueError(f"{variable}={value!r} is not {expected}") from None


class ConsentPolicy(StrEnum):
    """Which readings of a consenting customer may be used for research."""

    SINCE_CONSENT = "since_consent"
    """Only readings taken at or after the customer's `shareWithResearchAsOfDate`."""
    ANY_TIME = "any_time"
    """Every reading of a customer who consents today."""


def lake_root() -> str:
    """`STEDI_LAKE`: a local folder or `s3://bucket/prefix`; `lake/` in the working directory."""
    return os.environ.get("STEDI_LAKE", DEFAULT_LAKE)


def consent_policy() -> ConsentPolicy:
    """`STEDI_CONSENT_POLICY`, validated so a typo fails loudly instead of widening consent."""
    value = os.environ.get("STEDI_CONSENT_POLICY", ConsentPolicy.SINCE_CONSENT.value)
    try:
        return ConsentPolicy(value)
    except ValueError:
        allowed = ", ".join(policy.value for policy in ConsentPolicy)
        raise ValueError(f"STEDI_CONSENT_POLICY={value!r} is not one of: {allowed}") from None


def jars_dir() -> Path:
    """`STEDI_JARS_DIR`: where `make setup` put the Delta Lake and s3a jars."""
    return Path(os.environ.get("STEDI_JARS_DIR", PROJECT_ROOT / ".cache" / "jars"))


def _machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_driver_memory() -> str:
    """A third of the machine's memory: Spark's 1 GiB default runs out near 10 M rows, and the
    JVM's resident size grows well past its heap (a half-machine heap peaked at 16 GiB here)."""
    return f"{max(1024, _machine_memory_bytes() // 2**20 // 3)}m"


def dagster_home() -> str | None:
    """`DAGSTER_HOME`: the Dagster instance's folder (runs, events, schedules); `make` sets it."""
    return os.environ.get("DAGSTER_HOME") or None


def erasure_salt() -> str | None:
    """`STEDI_ERASURE_SALT`: the secret salt of the erasure log's email hashes."""
    return os.environ.get("STEDI_ERASURE_SALT") or None


def history_retention_hours() -> float:
    """`STEDI_HISTORY_RETENTION_HOURS`: how long old table versions stay (Delta's 7 days)."""
    return _number("STEDI_HISTORY_RETENTION_HOURS", DEFAULT_HISTORY_RETENTION_HOURS, float)


def increment_min_rows() -> int:
    """`STEDI_INCREMENT_MIN_ROWS`: a published table with fewer rows is rebuilt when what it is
    built from changes, instead of changed by an increment; `0` lets every table grow by
    increments."""
    value = _number("STEDI_INCREMENT_MIN_ROWS", DEFAULT_INCREMENT_MIN_ROWS, int)
    if value < 0:
        raise ValueError(f"STEDI_INCREMENT_MIN_ROWS={value} is negative")
    return value


def reading_increments_at_any_size() -> bool:
    """Whether a table of sensor readings with new landing files grows by an increment
    whatever its size: when runs are clients of a Spark Connect server (`STEDI_SPARK_REMOTE`,
    as under `make ui`) and `STEDI_INCREMENT_MIN_ROWS` is not set. On that server, warm from
    run to run, a reading table's increment after new files (it parses them alone) took less
    than its rebuild (it parses every landing file again) even on the 1x lake; after a consent
    change alone, with no file to spare parsing, both reading tables' increments took longer
    than their rebuilds (`make bench-ui`), so it keeps the threshold then. A curated table is
    rebuilt from Delta tables, not landing files, and keeps the threshold (the two curated
    tables' rebuilds took less together than their increments); so does every table when each
    run starts a Spark of its own, where increments of the 1x tables took longer than their
    rebuilds (`make profile`)."""
    return not is_set("STEDI_INCREMENT_MIN_ROWS") and spark_remote() is not None


def full_refresh() -> bool:
    """`STEDI_FULL_REFRESH`: `1` (or `true`) rebuilds every table, even those whose inputs did
    not change since they were published; `0`, `false` or unset reuses them."""
    value = os.environ.get("STEDI_FULL_REFRESH", "0").strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false", ""):
        return False
    raise ValueError(f"STEDI_FULL_REFRESH={value!r} is not one of: 1, true, 0, false")


PLAUSIBILITY_VARIABLES = {
    "STEDI_EARLIEST_TIME": ("earliest_time", str),
    "STEDI_MAX_FUTURE_HOURS": ("max_future_hours", int),
    "STEDI_MAX_ACCELERATION": ("max_acceleration", float),
    "STEDI_MAX_DISTANCE": ("max_distance", int),
}


def plausibility_overrides() -> dict[str, Any]:
    """The plausible ranges set in the environment (`LakeResource` holds the defaults)."""
    return {
        option: kind(os.environ[variable]) if kind is str else _number(variable, 0, kind)
        for variable, (option, kind) in PLAUSIBILITY_VARIABLES.items()
        if variable in os.environ
    }


def spark_overrides() -> dict[str, str]:
    """`STEDI_SPARK_CONF`: extra `key=value` Spark settings, separated by spaces or newlines."""
    overrides: dict[str, str] = {}
    for item in os.environ.get("STEDI_SPARK_CONF", "").split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"STEDI_SPARK_CONF item {item!r} is not of the form key=value")
        overrides[key] = value
    return overrides


DEFAULT_CONNECT_PORT = 15002
"""Spark Connect's own default port."""


def spark_remote() -> str | None:
    """`STEDI_SPARK_REMOTE`: a Spark Connect endpoint (`sc://host:port`) every run uses instead
    of a Spark of its own; unset, each run starts a local one."""
    value = os.environ.get("STEDI_SPARK_REMOTE") or None
    if value is None:
        return None
    if "token=" in value.lower():  # the URL shows in the UI's resource config and in errors
        raise ValueError(
            "STEDI_SPARK_REMOTE must not hold a token: set SPARK_CONNECT_AUTHENTICATE_TOKEN, "
            "which the Spark Connect client reads from the environment"
        )
    if not value.startswith("sc://"):
        raise ValueError(
            f"STEDI_SPARK_REMOTE={value!r} is not a Spark Connect URL (sc://host:port)"
        )
    return value


def spark_master() -> str:
    """`STEDI_SPARK_MASTER`: `local[*]` (every core of this machine) by default."""
    return os.environ.get("STEDI_SPARK_MASTER", "local[*]")


def spark_driver_memory() -> str:
    """`STEDI_SPARK_DRIVER_MEMORY`, e.g. `8g`; a third of the machine's memory by default."""
    return os.environ.get("STEDI_SPARK_DRIVER_MEMORY", default_driver_memory())


def spark_shuffle_partitions() -> int:
    """`STEDI_SPARK_SHUFFLE_PARTITIONS`: four per core by default (Spark's 200 suits clusters)."""
    return _number("STEDI_SPARK_SHUFFLE_PARTITIONS", 4 * (os.cpu_count() or 1), int)


def sensor_interval_seconds() -> int:
    """`STEDI_SENSOR_INTERVAL`: seconds between two listings of the landing folders."""
    return _number("STEDI_SENSOR_INTERVAL", 30, int)


def s3_endpoint() -> str | None:
    """`STEDI_S3_ENDPOINT`: an S3-compatible server's URL (MinIO, moto); unset for AWS S3."""
    return os.environ.get("STEDI_S3_ENDPOINT") or None


def aws_region() -> str:
    """`AWS_REGION` (or `AWS_DEFAULT_REGION`): the region of the bucket and the Glue catalog."""
    variable = aws_region_variable()
    return os.environ[variable] if variable else DEFAULT_AWS_REGION


def aws_region_variable() -> str:
    """Which variable sets the region: `AWS_REGION`, else `AWS_DEFAULT_REGION`; "" if none."""
    return next((v for v in ("AWS_REGION", "AWS_DEFAULT_REGION") if is_set(v)), "")
