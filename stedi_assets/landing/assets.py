"""The landing zone: raw JSON files as they arrive, declared so lineage starts at the files."""

from __future__ import annotations

import dagster as dg

from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.lake import Lake

LANDING_DESCRIPTIONS = {
    "customer": "Customer records written by the STEDI mobile app and website, one JSON object "
    "per line: name, email, phone, birthday, the serial number of the customer's step trainer, "
    "and consent dates. A customer may appear many times; the newest record counts.",
    "accelerometer": "Phone accelerometer readings written by the mobile app during step "
    "training: the user's email, a timestamp in epoch milliseconds and x/y/z acceleration.",
    "step_trainer": "Step-trainer sensor readings keyed by the device's serial number: reading "
    "time in epoch milliseconds and the distance to the object in front of the sensor.",
}


def landing_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"{source}_landing")


def landing_specs(lake: Lake) -> list[dg.AssetSpec]:
    """External assets for the three landing folders: Dagster reads but never writes them."""
    return [
        dg.AssetSpec(
            landing_asset_key(source),
            group_name="landing",
            description=description + " Raw and unvalidated; contains personal data.",
            kinds={"json", lake.storage_kind},
            owners=["team:stedi-mobile-app"],
            metadata={
                "dagster/uri": dg.MetadataValue.path(lake.landing(source)),
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(
                            field.name,
                            field.type_name,
                            description=("required" if field.required else "optional"),
                        )
                        for field in LANDING_SOURCES_BY_NAME[source].fields
                    ]
                ),
            },
            tags={"zone": "landing", "pii": "true"},
        )
        for source, description in LANDING_DESCRIPTIONS.items()
    ]
