"""The Dagster definitions: every asset, check, job, schedule, sensor and resource.

Built when Dagster loads the project (`@dg.definitions`), never at import: importing a module of
the package reads no setting, so a wrong one fails here, naming the variable, and the same code
serves every environment.
"""

from __future__ import annotations

import dagster as dg

from stedi_assets import settings
from stedi_assets.orchestration.curated import customers_curated, machine_learning_curated
from stedi_assets.orchestration.erasure import erase_customer_job, vacuum_job, vacuum_schedule
from stedi_assets.orchestration.landing import landing_specs
from stedi_assets.orchestration.privacy_audit import privacy_audit_job, privacy_audit_schedule
from stedi_assets.orchestration.resources import lake_resource, pyspark_resource, s3_resource
from stedi_assets.orchestration.sensors import landing_files_sensor
from stedi_assets.orchestration.trusted import (
    accelerometer_trusted,
    customer_trusted,
    step_trainer_trusted,
)
from stedi_assets.storage.lake import LakeLayout

ZONE_ASSETS = (
    customer_trusted,
    accelerometer_trusted,
    step_trainer_trusted,
    customers_curated,
    machine_learning_curated,
)


@dg.definitions
def defs() -> dg.Definitions:
    lake = LakeLayout(settings.lake_root())
    return dg.Definitions(
        assets=[
            *landing_specs(lake),
            # Where the tables are stored (`file` or `s3`) is known only now.
            *dg.map_asset_specs(
                lambda spec: spec.merge_attributes(kinds={lake.storage_kind}), ZONE_ASSETS
            ),
        ],
        jobs=[erase_customer_job, vacuum_job, privacy_audit_job],
        schedules=[vacuum_schedule, privacy_audit_schedule],
        sensors=[landing_files_sensor(settings.sensor_interval_seconds())],
        resources={"pyspark": pyspark_resource(), "lake": lake_resource(), "s3": s3_resource()},
        # One process and one SparkSession for the whole run: a process per step would pay the
        # JVM start-up once per asset.
        executor=dg.in_process_executor,
    )
