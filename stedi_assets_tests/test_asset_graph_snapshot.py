"""What analysts see in the UI is reviewed like code: the asset graph's specs equal the committed
snapshot (`make snapshot` rewrites it after an intended change)."""

import json

import pytest

from stedi_assets.definitions import defs
from stedi_assets_tests.asset_graph_snapshot import SNAPSHOT, asset_graph_snapshot, render


def test_the_asset_graph_equals_its_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEDI_LAKE", raising=False)  # the snapshot's lake: a folder
    current = asset_graph_snapshot(defs())
    committed = json.loads(SNAPSHOT.read_text())
    assert current == committed, "the asset graph changed: review it, then run `make snapshot`"
    assert render(current) == SNAPSHOT.read_text()


def test_the_snapshot_holds_what_the_ui_shows() -> None:
    assets = json.loads(SNAPSHOT.read_text())["assets"]
    assert len(assets) == 8
    trusted = assets["customer_trusted"]
    assert trusted["group"] == "trusted" and trusted["deps"] == ["customer_landing"]
    assert {"spark", "delta", "file"} <= set(trusted["kinds"])
    assert trusted["tags"] == {"pii": "true", "zone": "trusted"}
    assert {"name": "schema", "blocking": True} in trusted["checks"]
    assert {"name": "no_quarantined_lines", "blocking": False} in trusted["checks"]
    assert {"name": "no_erased_lines", "blocking": False} in trusted["checks"]
    assert all(column["description"] for column in trusted["columns"])
    assert assets["machine_learning_curated"]["tags"]["pii"] == "pseudonymous"
