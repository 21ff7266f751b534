"""What analysts see of the asset graph, as JSON: each asset's key, group, description,
dependencies, kinds, tags, owners, checks (name and whether it blocks) and columns (name and
description). `test_asset_graph_snapshot.py` compares it with the committed snapshot, so a change
to what the UI shows appears in review; `make snapshot` writes it anew.

    python -m stedi_assets_tests.asset_graph_snapshot   # rewrite the committed snapshot
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
KIND_TAG = "dagster/kind/"  # kinds are listed as kinds, not again as tags


def _columns(spec: dg.AssetSpec) -> list[dict[str, str | None]]:
    schema = spec.metadata.get("dagster/column_schema")
    if schema is None:
        return []
    table_schema = schema.schema if isinstance(schema, dg.TableSchemaMetadataValue) else schema
    return [{"name": c.name, "description": c.description} for c in table_schema.columns]


def asset_graph_snapshot(defs: dg.Definitions) -> dict[str, Any]:
    """The graph's specs as plain, sorted JSON values."""
    checks: dict[str, list[dict[str, Any]]] = {}
    for assets_def in defs.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition):
            for check in assets_def.check_specs:
                checks.setdefault(check.asset_key.to_user_string(), []).append(
                    {"name": check.name, "blocking": check.blocking}
                )
    assets = {}
    for spec in sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string()):
        key = spec.key.to_user_string()
        assets[key] = {
            "group": spec.group_name,
            "description": spec.description,
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "kinds": sorted(spec.kinds),
            "tags": {k: v for k, v in sorted(spec.tags.items()) if not k.startswith(KIND_TAG)},
            "owners": sorted(spec.owners),
            "checks": sorted(checks.get(key, []), key=lambda check: check["name"]),
            "columns": _columns(spec),
        }
    return {"assets": assets}


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def main() -> None:
    from stedi_assets.definitions import defs

    os.environ.pop("STEDI_LAKE", None)  # the snapshot is of the default lake, a folder
    SNAPSHOT.write_text(render(asset_graph_snapshot(defs())))
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()
