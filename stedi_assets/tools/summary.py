"""Print what the last materialization of each zone table produced: rows, checks, quarantine.

Reads the Dagster instance in `$DAGSTER_HOME`, the same records the UI shows, so the summary
and the UI never disagree. `make demo` runs it after materializing every asset.
"""

from __future__ import annotations

import dagster as dg

from stedi_assets.tables.catalogue import ZONE_TABLES, LakeTable


def _check_outcomes(instance: dg.DagsterInstance, table: LakeTable) -> tuple[int, list[str]]:
    """How many checks passed, and the names of those that did not (warnings marked)."""
    asset = dg.AssetKey(table.name)
    keys = [dg.AssetCheckKey(asset, name) for name in table.check_names]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    passed, not_passed = 0, []
    for key in keys:
        record = latest.get(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if evaluation is None:
            not_passed.append(f"{key.name} (not run)")
        elif evaluation.passed:
            passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            not_passed.append(f"{key.name} (warning)")
        else:
            not_passed.append(key.name)
    return passed, not_passed


def summarize(instance: dg.DagsterInstance) -> tuple[list[str], bool]:
    """Lines of the summary table, and whether every table is published with its checks passed."""
    lines = [f"{'table':<26}{'rows':>10}{'checks':>9}{'quarantined':>13}  notes"]
    healthy = True
    for table in ZONE_TABLES:
        event = instance.get_latest_materialization_event(dg.AssetKey(table.name))
        if event is None or event.asset_materialization is None:
            lines.append(f"{table.name:<26}{'-':>10}{'-':>9}{'-':>13}  never materialized")
            healthy = False
            continue
        metadata = {key: value.value for key, value in event.asset_materialization.metadata.items()}
        passed, not_passed = _check_outcomes(instance, table)
        quarantined = metadata.get("quarantined", "")
        healthy = healthy and all(name.endswith("(warning)") for name in not_passed)
        lines.append(
            f"{table.name:<26}{metadata['dagster/row_count']:>10}"
            f"{f'{passed}/{passed + len(not_passed)}':>9}{quarantined!s:>13}  "
            + ", ".join(not_passed)
        )
    return lines, healthy
