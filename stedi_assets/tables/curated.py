"""Where each curated table lives in the lake, what guards it and where its columns come from."""

from __future__ import annotations

from stedi_assets.contract.landing import CUSTOMER
from stedi_assets.tables import catalogue
from stedi_assets.tables.curated_schemas import CustomersCurated, MachineLearningCurated
from stedi_assets.tables.zone_table import ZoneTable, same_columns

DEVICE_COLUMNS = ("sensorReadingTime", "serialNumber", "distanceFromObject")
PHONE_COLUMNS = ("x", "y", "z")

CUSTOMERS_CURATED = ZoneTable(
    table=catalogue.CUSTOMERS_CURATED_TABLE,
    model=CustomersCurated,
    privacy_rule="Every row is a customer of customer_trusted.",
    column_lineage=same_columns("customer_trusted", CUSTOMER.columns),
    example_key=("email",),
)
MACHINE_LEARNING_CURATED = ZoneTable(
    table=catalogue.MACHINE_LEARNING_CURATED_TABLE,
    model=MachineLearningCurated,
    privacy_rule="Every row's device reading (serialNumber, sensorReadingTime) is in "
    "step_trainer_trusted; the strict schema keeps personal columns out.",
    column_lineage={
        **same_columns("step_trainer_trusted", DEVICE_COLUMNS),
        **same_columns("accelerometer_trusted", PHONE_COLUMNS),
    },
    example_key=("serialNumber", "sensorReadingTime"),
)
