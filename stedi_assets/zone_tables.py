"""Every trusted and curated table, in the order a full run builds them."""

from stedi_assets.curated.tables import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.trusted.tables import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)

ZONE_TABLES = (
    CUSTOMER_TRUSTED,
    ACCELEROMETER_TRUSTED,
    CUSTOMERS_CURATED,
    STEP_TRAINER_TRUSTED,
    MACHINE_LEARNING_CURATED,
)
