"""What a publication changes in its table: every row (a build), or the rows an increment adds
and the keys whose published rows it replaces. The checks and the writes read this one value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from stedi_assets.publishing.increment_plan import Increment
from stedi_assets.publishing.publication import Publication
from stedi_assets.storage import delta_tables


@dataclass(frozen=True)
class Change:
    added_rows: DataFrame
    """The rows written (cached): every row of a build; an increment's new rows, in the table's
    column order."""
    kept_rows: DataFrame | None = None
    """For an increment, the published rows that stay; None for a build."""
    key: Sequence[str] = ()
    increment: Increment | None = None
    """The published version an increment builds on; None for a build."""
    removed_keys: DataFrame | None = None
    """The keys whose published rows an increment removes (cached); None when it removes none."""
    removed_rows: DataFrame | None = None
    keys_replaced: int = 0

    @property
    def is_build(self) -> bool:
        return self.increment is None

    @property
    def whole_table(self) -> DataFrame:
        """The table as it will be: for an increment, the published rows that stay and the new
        ones."""
        if self.kept_rows is None:
            return self.added_rows
        return self.kept_rows.unionByName(self.added_rows)

    def rows_to_judge(self, judged_keys: DataFrame | None) -> DataFrame:
        """The rows the privacy invariant checks: every row of a build; of an increment, the
        rows it adds and those it keeps of the keys judged by something that changed
        (`judged_keys`). A withdrawal of a thousand customers is checked on their rows, not on
        a million customers' (`privacy_audit_job` checks every row on a schedule)."""
        if self.kept_rows is None or judged_keys is None:  # a build adds every row
            return self.added_rows
        if not self.key:
            raise ValueError("an increment with keys judged again needs the table's key columns")
        judged = self.kept_rows.join(F.broadcast(judged_keys), list(self.key), "left_semi")
        return judged.unionByName(self.added_rows)


def change_of(publication: Publication, uri: str, increment: Increment | None) -> Change:
    """What publishing `publication` changes in the table at `uri`."""
    if increment is None:
        rows = publication.rows.persist()
        return Change(added_rows=rows)
    published = delta_tables.read_version(publication.rows.sparkSession, uri, increment.version)
    added = publication.rows.select(*published.columns).persist()
    removed_keys, keys_replaced = _keys_replaced(publication)
    change = Change(
        added_rows=added,
        kept_rows=published,
        key=publication.key,
        increment=increment,
        keys_replaced=keys_replaced,
    )
    if removed_keys is None:
        return change
    keys, key = F.broadcast(removed_keys), list(publication.key)
    kept = published.join(keys, key, "left_anti")
    return Change(
        added_rows=added,
        kept_rows=kept,
        key=publication.key,
        increment=increment,
        removed_keys=removed_keys,
        # A join on key columns puts them first: the removed rows' digest reads them in order.
        removed_rows=published.join(keys, key, "left_semi").select(*published.columns),
        keys_replaced=keys_replaced,
    )


def _keys_replaced(publication: Publication) -> tuple[DataFrame | None, int]:
    """The keys an increment replaces (cached), or None when it names none; and how many."""
    if publication.removed_keys is None:
        return None, 0
    keys = publication.removed_keys.persist()
    count = keys.count()
    return (keys if count else None), count
