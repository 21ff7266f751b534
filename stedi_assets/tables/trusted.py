"""Where each trusted table lives in the lake, what guards it and where its columns come from."""

from __future__ import annotations

from stedi_assets.contract.landing import ACCELEROMETER, CUSTOMER, STEP_TRAINER
from stedi_assets.tables import catalogue
from stedi_assets.tables.trusted_schemas import (
    AccelerometerTrusted,
    CustomerTrusted,
    StepTrainerTrusted,
)
from stedi_assets.tables.zone_table import ZoneTable, same_columns

CUSTOMER_TRUSTED = ZoneTable(
    table=catalogue.CUSTOMER_TRUSTED_TABLE,
    model=CustomerTrusted,
    privacy_rule="Every row is a customer's current (newest) record and it consents to research.",
    column_lineage=same_columns("customer_landing", CUSTOMER.columns),
    example_key=("email", "lastUpdateDate"),
)
ACCELEROMETER_TRUSTED = ZoneTable(
    table=catalogue.ACCELEROMETER_TRUSTED_TABLE,
    model=AccelerometerTrusted,
    privacy_rule="Every reading's user is in customer_trusted and, under `since_consent`, was "
    "taken at or after their consent.",
    column_lineage=same_columns("accelerometer_landing", ACCELEROMETER.columns),
    example_key=("user", "timestamp"),
)
STEP_TRAINER_TRUSTED = ZoneTable(
    table=catalogue.STEP_TRAINER_TRUSTED_TABLE,
    model=StepTrainerTrusted,
    privacy_rule="Every reading's device is carried by exactly one current customer record, that "
    "customer is in customers_curated and, under `since_consent`, the reading is not before "
    "their consent.",
    column_lineage=same_columns("step_trainer_landing", STEP_TRAINER.columns),
    example_key=("serialNumber", "sensorReadingTime"),
)
