"""What an asset hands the publishing flow: the rows it built, and how to build them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from stedi_assets.contract.accounting import TrustedBuild
from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.publishing.increment_plan import Increment
from stedi_assets.publishing.metadata import ReadingsPerCustomer
from stedi_assets.storage.glue import GlueCatalog
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tables.catalogue import LakeTable
from stedi_assets.tables.zone_table import ZoneTable


class LakeSettings(Protocol):
    """What publishing needs of the lake's settings (the Dagster resource `LakeResource`)."""

    @property
    def layout(self) -> LakeLayout: ...

    @property
    def full_refresh(self) -> bool: ...

    def increment_min_rows_for(self, landing_source: str | None, new_files: bool) -> int: ...

    def plausible_ranges(self) -> PlausibleRanges: ...

    def build_settings(self) -> dict[str, str]: ...

    def catalog(self) -> GlueCatalog | None: ...


PublishEvents = Iterator[dg.AssetCheckResult | dg.MaterializeResult]
"""What a zone asset yields: its materialization and check results (or failed checks)."""


@dataclass(frozen=True)
class Publication:
    """A built zone table, ready to be checked and published: the whole table, or for an
    increment what changes in it."""

    rows: DataFrame
    """Every row of the table; for an increment, the rows it adds."""
    privacy_violations: Callable[[DataFrame], DataFrame]
    """The rows that break the table's privacy invariant (none, or it is not published)."""
    parsed_landing: Sequence[DataFrame] = ()
    """Every parsed landing source the build read (a time in them after the latest plausible
    one bounds how long the build can be reused)."""
    build: TrustedBuild | None = None
    charts: Mapping[str, ReadingsPerCustomer] = field(default_factory=dict)
    """Charts of the whole table, by metadata key (drawn in the Spark job of the checks)."""
    key: Sequence[str] = ()
    """For an increment that replaces some keys' rows: the key columns."""
    removed_keys: DataFrame | None = None
    """For an increment: the values of `key` whose rows are removed before `rows` are added."""
    judged_keys: DataFrame | None = None
    """For an increment: the values of `key` whose rows the privacy invariant judges by
    something that changed (a consent, an owner, a removed device reading). Their rows are
    checked again with the added ones; the rows of every other key keep the verdicts they were
    published with (the scheduled privacy audit checks every row)."""
    companion_tables: Sequence[tuple[LakeTable, DataFrame]] = ()
    """Tables written beside the table, before it, with its marker: customer_trusted's current
    record of every customer, which step_trainer_trusted reads. A build replaces them; an
    increment replaces the rows of its `removed_keys` with these rows. Exactly the table's
    declared `LakeTable.companions`, whose markers plan an increment."""


@dataclass(frozen=True)
class Sources:
    """What a zone table is built from: landing sources and lake tables."""

    landing: Sequence[str] = ()
    tables: Sequence[LakeTable] = ()


class TableBuilder(Protocol):
    """A zone table's builds (`builds.builder.Builder`): what the table is built from, its
    full build and its increment."""

    spark: SparkSession

    @property
    def table(self) -> ZoneTable: ...

    @property
    def sources(self) -> Sources: ...

    def build(self, files: Sequence[LandingFile]) -> Publication:
        """The whole table, given the files of its landing source as this run listed them
        (none for a curated table): it reads exactly those, so its record names exactly what
        it read."""
        ...

    def increment(self, increment: Increment) -> Publication | None:
        """What the added landing files and the upstream changes add to and remove from the
        published version; None when the table needs a full build instead."""
        ...
