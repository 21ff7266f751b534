"""What every process of the project does before it writes a file or starts a JVM: keep its
files to their owner and its ports on loopback. The lake holds personal data, and a Spark (its
UI, driver and block manager) otherwise listens on every interface of the machine.

Standard library only: `stedi` applies it before any of its commands runs.
"""

from __future__ import annotations

import os

from stedi_assets import settings

LOOPBACK = "127.0.0.1"


def on_loopback_only() -> dict[str, str]:
    """The environment a JVM this project starts in local mode needs so that nothing it opens
    listens beyond this machine: Spark's UI binds to `SPARK_LOCAL_IP` (every interface without
    it), its driver and block manager to `spark.driver.bindAddress` (`loopback_config`). A
    cluster's driver must be reachable by its executors, so it is left as configured."""
    return {"SPARK_LOCAL_IP": LOOPBACK} if settings.spark_master().startswith("local") else {}


def loopback_config() -> dict[str, str]:
    """Spark settings that keep a local driver's ports on loopback (see `on_loopback_only`)."""
    if not settings.spark_master().startswith("local"):
        return {}
    return {"spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}


OWNER_ONLY = 0o077
"""The permissions every file the project writes withholds: none for the group, none for others
(the lake holds personal data; on S3, IAM decides who reads what)."""


def private_process() -> None:
    """Before this process starts a JVM (which inherits both): files it writes are its owner's
    alone (`OWNER_ONLY`, also Hadoop's own umask in `server_config`), and nothing it opens
    listens beyond loopback (`on_loopback_only`)."""
    os.umask(OWNER_ONLY)
    for name, value in on_loopback_only().items():
        os.environ.setdefault(name, value)
