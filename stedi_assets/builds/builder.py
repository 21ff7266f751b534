"""One interface for every zone table's build: what it reads (`sources`), its full build from
the landing files a run listed, and its increment on the published version."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol

from pyspark.sql import SparkSession

from stedi_assets.contract.plausibility import PlausibleRanges
from stedi_assets.publishing.increment_plan import Increment
from stedi_assets.publishing.publication import Publication, Sources
from stedi_assets.settings import ConsentPolicy
from stedi_assets.storage.lake import LakeLayout
from stedi_assets.storage.landing_store import LandingFile
from stedi_assets.tables.zone_table import ZoneTable


class BuildSettings(Protocol):
    """The lake's settings a build reads (the Dagster resource `LakeResource`)."""

    @property
    def layout(self) -> LakeLayout: ...

    @property
    def consent_policy(self) -> ConsentPolicy: ...

    @property
    def erasure_salt(self) -> str | None: ...

    def plausible_ranges(self) -> PlausibleRanges: ...


class Builder(ABC):
    """A zone table's builds (`publication.TableBuilder`). `sources` is all the table is built
    from: the asset's dependencies and the build record's inputs both derive from it."""

    table: ClassVar[ZoneTable]
    sources: ClassVar[Sources]

    def __init__(self, spark: SparkSession, lake: BuildSettings) -> None:
        self.spark = spark
        self.lake = lake

    @property
    def layout(self) -> LakeLayout:
        return self.lake.layout

    @abstractmethod
    def build(self, files: Sequence[LandingFile]) -> Publication:
        """As `publication.TableBuilder.build`."""

    @abstractmethod
    def increment(self, increment: Increment) -> Publication | None:
        """As `publication.TableBuilder.increment`."""
