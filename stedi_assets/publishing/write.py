"""Writing a checked change: the companion tables first, each marked with the table's record,
then the table itself, in one commit with its build record (`build_inputs.BuildRecord`). An
increment builds only on companions that carry that record, so a run stopped between the
writes is seen by the next one."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

from pyspark.sql import DataFrame

from stedi_assets.contract.accounting import DUPLICATE, QUARANTINED
from stedi_assets.publishing.build_inputs import BuildInputs, BuildRecord, companion_marker
from stedi_assets.publishing.change import Change
from stedi_assets.publishing.publication import Publication
from stedi_assets.publishing.verify import Verdict
from stedi_assets.storage import delta_tables
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.tables.catalogue import LakeTable

NOT_RECORDS = (QUARANTINED, DUPLICATE)
"""Accounting kinds that are not one distinct record each: every other kind counts records
the build read for the first time (`TrustedBuild.records`)."""


def build_record(
    inputs: BuildInputs, source: str | None, change: Change, verdict: Verdict
) -> BuildRecord:
    """The record the table's commit carries: what it was built from, and what it holds."""
    sums = verdict.content_sums
    return BuildRecord(
        inputs=inputs.fingerprint(),
        first_future_time_ms=verdict.first_future_time_ms,
        row_count=verdict.row_count,
        checks={str(r.check_name): (r.passed, r.severity.value) for r in verdict.results},
        accounting=verdict.accounting.as_metadata() if verdict.accounting else None,
        content=_content_digest(change.added_rows, verdict.row_count, sums) if sums else None,
        content_sums=[str(value) for value in sums] if sums else None,
        increment_base=inputs.increment_base(source),
        increment_files=(
            [[f.key, f.size, f.fingerprint] for f in inputs.landing[source]] if source else None
        ),
        upstream_versions=dict(inputs.versions),
        kind="build" if change.is_build else "increment",
        removed_rows=verdict.removed_count,
        added_rows=verdict.added_count,
        charts=dict(verdict.chart_counts) or None,
    )


def _content_digest(rows: DataFrame, row_count: int, sums: Sequence[Decimal]) -> str:
    text = f"{rows.schema.simpleString()}|{row_count}|{sums[0]}|{sums[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


def write_companions(
    layout: LakeLayout,
    source: str | None,
    publication: Publication,
    companions: Sequence[tuple[LakeTable, DataFrame]],
    change: Change,
    record: BuildRecord,
) -> None:
    """A build replaces its companions (the declared ones, a trusted table's quarantine and
    parsed records); an increment appends to them, or replaces the rows of its keys."""
    marker = companion_marker(record.inputs)
    # A companion keyed like its table holds rows of the keys an increment names only: none
    # when it names none (its append would make no commit, leaving an old marker).
    keyed = not change.is_build and publication.removed_keys is not None
    for companion, rows in companions:
        empty = 0 if keyed and change.removed_keys is None else None
        _write_companion(rows, companion.uri(layout), marker, change, empty, keyed=True)
    build = publication.build
    if build is None or source is None:
        return
    added = build.accounting.counts
    quarantined = added[QUARANTINED]
    _write_companion(build.quarantine, layout.quarantine(source), marker, change, quarantined)
    new_records = sum(n for kind, n in added.items() if kind not in NOT_RECORDS)
    _write_companion(build.records, layout.parsed(source), marker, change, new_records)


def _write_companion(
    rows: DataFrame,
    uri: str,
    marker: str,
    change: Change,
    added: int | None,
    keyed: bool = False,
) -> int:
    """A build replaces a companion table with its `added` rows (None: not counted); an
    increment appends them, or (`keyed`) replaces the rows of its removed keys with them in
    one `MERGE`. Either way a commit, even of no rows, carrying the marker."""
    if change.is_build:
        return delta_tables.overwrite(rows, uri, marker, empty=added == 0)
    if keyed and change.removed_keys is not None:
        return delta_tables.merge(rows, uri, change.key, change.removed_keys, marker)
    return delta_tables.append(rows, uri, marker, empty=added == 0)


def write_table(change: Change, uri: str, record: BuildRecord) -> int:
    """A build replaces the table; an increment appends its rows, or replaces the rows of its
    removed keys with them in one `MERGE`. Always a commit, even of no change, so the table's
    record is in its latest commit."""
    metadata = record.to_json()
    rows = change.added_rows
    if change.is_build:
        return delta_tables.overwrite(rows, uri, metadata, empty=record.row_count == 0)
    if change.removed_keys is None or record.removed_rows == 0:
        return delta_tables.append(rows, uri, metadata, empty=record.added_rows == 0)
    return delta_tables.merge(rows, uri, change.key, change.removed_keys, metadata)
