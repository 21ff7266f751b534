"""The landing zone: raw JSON files as they arrive, declared so lineage starts at the files."""

from __future__ import annotations

import dagster as dg

from stedi_assets.contract.landing import LANDING_SOURCES_BY_NAME
from stedi_assets.storage.lake import LakeLayout


def landing_asset_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(f"{source}_landing")


def landing_specs(lake: LakeLayout) -> list[dg.AssetSpec]:
    """External assets for the three landing folders: Dagster reads but never writes them."""
    return [
        dg.AssetSpec(
            landing_asset_key(source.name),
            group_name="landing",
            description=source.description + " Raw and unvalidated; contains personal data.",
            kinds={"json", lake.storage_kind},
            owners=["team:stedi-mobile-app"],
            metadata={
                "dagster/uri": dg.MetadataValue.path(lake.landing(source.name)),
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(
                            field.name,
                            field.type_name,
                            description=("required" if field.required else "optional"),
                        )
                        for field in source.fields
                    ]
                ),
            },
            tags={"zone": "landing", "pii": "true"},
        )
        for source in LANDING_SOURCES_BY_NAME.values()
    ]
