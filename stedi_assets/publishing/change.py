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
    whole_table: DataFrame
    """The table as it will be: for an increment, the published rows that stay and the new ones."""
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

    def rows_to_judge(self, judged_again: bool) -> DataFrame:
        """The rows the privacy invariant checks: every row of a build, and of an increment
        whose rows are judged by something that changed (a consent, an owner); otherwise only
        the added rows: untouched rows keep the verdicts they were published with."""
        return self.whole_table if self.is_build or judged_again else self.added_rows


def change_of(publication: Publication, uri: str, increment: Increment | None) -> Change:
    """What publishing `publication` changes in the table at `uri`."""
    if increment is None:
        rows = publication.rows.persist()
        return Change(added_rows=rows, whole_table=rows)
    published = delta_tables.read_version(publication.rows.sparkSession, uri, increment.version)
    added = publication.rows.select(*published.columns).persist()
    removed_keys, keys_replaced = _keys_replaced(publication)
    change = Change(
        added_rows=added,
        whole_table=published.unionByName(added),
        key=publication.key,
        increment=increment,
        keys_replaced=keys_replaced,
    )
    if removed_keys is None:
        return change
    keys, key = F.broadcast(removed_keys), list(publication.key)
    return Change(
        added_rows=added,
        whole_table=published.join(keys, key, "left_anti").unionByName(added),
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
