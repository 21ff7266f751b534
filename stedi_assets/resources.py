"""Resources: the Spark session and the lake, configured from `settings` in one place."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource

from stedi_assets import settings
from stedi_assets.lake import Lake


def spark_config() -> dict[str, Any]:
    """Spark settings for this project; each can be overridden through `settings`.

    The Delta Lake and s3a jars come from the cache `make setup` fills, through the class path,
    so a run never downloads anything.
    """
    jars = sorted(settings.jars_dir().glob("*.jar"))
    if not any(jar.name.startswith("delta-spark") for jar in jars):
        raise RuntimeError(
            f"No Delta Lake jar in {settings.jars_dir()}: run `make setup` "
            "(or point STEDI_JARS_DIR at the folder holding the jars of jvm/pom.xml)."
        )
    class_path = ":".join(str(jar) for jar in jars)
    return {
        "spark.master": settings.spark_master(),
        "spark.app.name": "stedi-lakehouse",
        "spark.driver.memory": settings.spark_driver_memory(),
        "spark.driver.extraClassPath": class_path,
        "spark.executor.extraClassPath": class_path,
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions()),
        # Delta's default of 50 partitions for replaying a table's log suits huge logs; ours
        # are a few versions long, so one task per core is faster.
        "spark.databricks.delta.snapshotPartitions": str(os.cpu_count() or 1),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **settings.spark_overrides(),
    }


def pyspark_resource() -> PySparkResource:
    return PySparkResource(spark_config=spark_config())


class LakeResource(dg.ConfigurableResource):
    """Where the lake lives and which consent policy governs what may leave landing."""

    root: str
    consent_policy: settings.ConsentPolicy = settings.ConsentPolicy.SINCE_CONSENT

    @property
    def lake(self) -> Lake:
        return Lake(self.root)


def lake_resource() -> LakeResource:
    return LakeResource(root=settings.lake_root(), consent_policy=settings.consent_policy())
