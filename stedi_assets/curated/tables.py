"""Where each curated table lives in the lake and what guards it."""

from __future__ import annotations

from stedi_assets.curated.schemas import CustomersCurated, MachineLearningCurated
from stedi_assets.publishing import ZoneTable

CUSTOMERS_CURATED = ZoneTable(
    name="customers_curated",
    path="customer/curated",
    model=CustomersCurated,
    privacy_check="only_consenting_customers",
    privacy_rule="Every row is a customer of customer_trusted.",
)
MACHINE_LEARNING_CURATED = ZoneTable(
    name="machine_learning_curated",
    path="step_trainer/curated",
    model=MachineLearningCurated,
    privacy_check="only_trusted_device_readings",
    privacy_rule="Every row's device reading (serialNumber, sensorReadingTime) is in "
    "step_trainer_trusted; the strict schema keeps personal columns out.",
)
