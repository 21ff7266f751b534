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


class ConsentPolicy(StrEnum):
    """Which readings of a consenting customer may be used for research."""

    SINCE_CONSENT = "since_consent"
    """Only readings taken at or after the customer's `shareWithResearchAsOfDate`."""
    ANY_TIME = "any_time"
    """Every reading of a customer who consents today."""


def lake_root() -> str:
    """`STEDI_LAKE`: a local folder or `s3://bucket/prefix`; `lake/` in the working directory."""
    return os.environ.get("STEDI_LAKE", "lake")


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


def erasure_salt() -> str | None:
    """`STEDI_ERASURE_SALT`: the secret salt of the erasure log's email hashes."""
    return os.environ.get("STEDI_ERASURE_SALT") or None


def history_retention_hours() -> float:
    """`STEDI_HISTORY_RETENTION_HOURS`: how long old table versions stay (Delta's 7 days)."""
    return float(os.environ.get("STEDI_HISTORY_RETENTION_HOURS", "168"))


PLAUSIBILITY_VARIABLES = {
    "STEDI_EARLIEST_TIME": ("earliest_time", str),
    "STEDI_MAX_FUTURE_HOURS": ("max_future_hours", int),
    "STEDI_MAX_ACCELERATION": ("max_acceleration", float),
    "STEDI_MAX_DISTANCE": ("max_distance", int),
}


def plausibility_overrides() -> dict[str, Any]:
    """The plausible ranges set in the environment (`LakeResource` holds the defaults)."""
    overrides = {}
    for variable, (option, kind) in PLAUSIBILITY_VARIABLES.items():
        if variable in os.environ:
            try:
                overrides[option] = kind(os.environ[variable])
            except ValueError:
                raise ValueError(
                    f"{variable}={os.environ[variable]!r} is not a valid {kind.__name__}"
                ) from None
    return overrides


def spark_overrides() -> dict[str, str]:
    """`STEDI_SPARK_CONF`: extra `key=value` Spark settings, separated by spaces or newlines."""
    overrides: dict[str, str] = {}
    for item in os.environ.get("STEDI_SPARK_CONF", "").split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"STEDI_SPARK_CONF item {item!r} is not of the form key=value")
        overrides[key] = value
    return overrides


def spark_master() -> str:
    """`STEDI_SPARK_MASTER`: `local[*]` (every core of this machine) by default."""
    return os.environ.get("STEDI_SPARK_MASTER", "local[*]")


def spark_driver_memory() -> str:
    """`STEDI_SPARK_DRIVER_MEMORY`, e.g. `8g`; a third of the machine's memory by default."""
    return os.environ.get("STEDI_SPARK_DRIVER_MEMORY", default_driver_memory())


def spark_shuffle_partitions() -> int:
    """`STEDI_SPARK_SHUFFLE_PARTITIONS`: four per core by default (Spark's 200 suits clusters)."""
    return int(os.environ.get("STEDI_SPARK_SHUFFLE_PARTITIONS", 4 * (os.cpu_count() or 1)))


def sensor_interval_seconds() -> int:
    """`STEDI_SENSOR_INTERVAL`: seconds between two listings of the landing folders."""
    return int(os.environ.get("STEDI_SENSOR_INTERVAL", "30"))


def s3_endpoint() -> str | None:
    """`STEDI_S3_ENDPOINT`: an S3-compatible server's URL (MinIO, moto); unset for AWS S3."""
    return os.environ.get("STEDI_S3_ENDPOINT") or None


def aws_region() -> str:
    """`AWS_REGION` (or `AWS_DEFAULT_REGION`): the region of the bucket and the Glue catalog."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def glue_database() -> str | None:
    """`STEDI_GLUE_DATABASE`: register every table in this Glue database; unset, no catalog."""
    return os.environ.get("STEDI_GLUE_DATABASE") or None


def glue_endpoint() -> str | None:
    """`STEDI_GLUE_ENDPOINT`: a Glue-compatible endpoint (moto); unset for AWS Glue."""
    return os.environ.get("STEDI_GLUE_ENDPOINT") or None
