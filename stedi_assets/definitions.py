"""The Dagster definitions: every asset, check and resource, chosen from the environment here."""

from __future__ import annotations

import dagster as dg

from stedi_assets import settings
from stedi_assets.curated.assets import customers_curated, machine_learning_curated
from stedi_assets.erasure.jobs import erase_customer_job, vacuum_job, vacuum_schedule
from stedi_assets.lake import Lake
from stedi_assets.landing.assets import landing_specs
from stedi_assets.landing.sensors import landing_files_sensor
from stedi_assets.resources import lake_resource, pyspark_resource, s3_resource
from stedi_assets.trusted.assets import (
    accelerometer_trusted,
    customer_trusted,
    step_trainer_trusted,
)

defs = dg.Definitions(
    assets=[
        *landing_specs(Lake(settings.lake_root())),
        customer_trusted,
        accelerometer_trusted,
        step_trainer_trusted,
        customers_curated,
        machine_learning_curated,
    ],
    jobs=[erase_customer_job, vacuum_job],
    schedules=[vacuum_schedule],
    sensors=[landing_files_sensor],
    resources={"pyspark": pyspark_resource(), "lake": lake_resource(), "s3": s3_resource()},
    # One process and one SparkSession for the whole run: a process per step would pay the JVM
    # start-up once per asset.
    executor=dg.in_process_executor,
)
