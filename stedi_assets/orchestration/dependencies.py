"""An asset's dependencies, derived from what its build reads (`Builder.sources`), so they are
stated once."""

from __future__ import annotations

import dagster as dg

from stedi_assets.orchestration.landing import landing_asset_key
from stedi_assets.publishing.publication import Sources
from stedi_assets.tables.curated import CUSTOMERS_CURATED, MACHINE_LEARNING_CURATED
from stedi_assets.tables.trusted import (
    ACCELEROMETER_TRUSTED,
    CUSTOMER_TRUSTED,
    STEP_TRAINER_TRUSTED,
)

ASSET_TABLES = (
    CUSTOMER_TRUSTED,
    ACCELEROMETER_TRUSTED,
    STEP_TRAINER_TRUSTED,
    CUSTOMERS_CURATED,
    MACHINE_LEARNING_CURATED,
)


def asset_deps(sources: Sources) -> list[dg.AssetKey]:
    """The landing assets a build parses, and the zone assets that write the tables it reads
    (a table or one of its companions); tables no asset writes (the erasure log) are none."""
    tables = [
        zone.key for zone in ASSET_TABLES if any(zone.writes(table) for table in sources.tables)
    ]
    return [*(landing_asset_key(source) for source in sources.landing), *tables]
