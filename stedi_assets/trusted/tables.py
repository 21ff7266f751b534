"""Where each trusted table lives in the lake, what guards it and where its columns come from."""

from __future__ import annotations

from stedi_assets.contract.landing import ACCELEROMETER, CUSTOMER, STEP_TRAINER
from stedi_assets.publishing import ZoneTable, same_columns
from stedi_assets.trusted.schemas import AccelerometerTrusted, CustomerTrusted, StepTrainerTrusted

CUSTOMER_TRUSTED = ZoneTable(
    name="customer_trusted",
    path="customer/trusted",
    model=CustomerTrusted,
    privacy_check="only_consenting_customers",
    privacy_rule="Every row is a customer's current (newest) record and it consents to research.",
    column_lineage=same_columns("customer_landing", CUSTOMER.columns),
    example_key=("email", "lastUpdateDate"),
    landing_source="customer",
)
ACCELEROMETER_TRUSTED = ZoneTable(
    name="accelerometer_trusted",
    path="accelerometer/trusted",
    model=AccelerometerTrusted,
    privacy_check="only_consenting_customers",
    privacy_rule="Every reading's user is in customer_trusted and, under `since_consent`, was "
    "taken at or after their consent.",
    column_lineage=same_columns("accelerometer_landing", ACCELEROMETER.columns),
    example_key=("user", "timestamp"),
    landing_source="accelerometer",
)
STEP_TRAINER_TRUSTED = ZoneTable(
    name="step_trainer_trusted",
    path="step_trainer/trusted",
    model=StepTrainerTrusted,
    privacy_check="only_consenting_customers",
    privacy_rule="Every reading's device is carried by exactly one current customer record, that "
    "customer is in customers_curated and, under `since_consent`, the reading is not before "
    "their consent.",
    column_lineage=same_columns("step_trainer_landing", STEP_TRAINER.columns),
    example_key=("serialNumber", "sensorReadingTime"),
    landing_source="step_trainer",
)
