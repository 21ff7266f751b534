"""A zone table as the asset graph declares it: its place in the catalogue, the Pandera model
and privacy rule that guard it, and where its columns come from.

`asset_options` gives every zone asset the same name, group, checks, kinds, owners, tags and
declared columns, so the UI describes every table the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from pandera.pyspark import DataFrameModel

from stedi_assets.storage.lake import LakeLayout
from stedi_assets.tables import checks
from stedi_assets.tables.catalogue import LakeTable
from stedi_assets.tables.personal_data import personal_data

ASSET_OWNERS = ["team:stedi-data-engineering"]


@dataclass(frozen=True)
class ZoneTable:
    """A table of the trusted or curated zone: where it lives and what guards it."""

    table: LakeTable
    model: type[DataFrameModel]
    privacy_rule: str
    """What the blocking privacy check asserts of every row (its description in the UI)."""
    column_lineage: Mapping[str, Sequence[tuple[str, str]]]
    """Each column's upstream (asset, column) pairs, shown as column lineage in the UI."""
    example_key: tuple[str, ...]
    """Columns that identify a row in a check failure's examples (personal ones hashed)."""

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(self.table.name)

    @property
    def zone(self) -> str:
        return self.table.zone

    @property
    def landing_source(self) -> str | None:
        return self.table.landing_source

    @property
    def personal_data(self) -> str:
        """`true`, `pseudonymous` or `false` (`personal_data.personal_data`)."""
        return personal_data(list(self.model.to_schema().columns))

    def uri(self, layout: LakeLayout) -> str:
        return self.table.uri(layout)

    def writes(self, table: LakeTable) -> bool:
        """Whether publishing this table writes `table`: itself, or a companion of it."""
        return table == self.table or table in self.table.companions

    def asset_options(self) -> dict[str, Any]:
        """The `@asset` arguments every zone table shares: name, group, checks, kinds, tags and
        its columns. The storage's kind (`file`, `s3`) is added when the definitions load."""
        return {
            "name": self.name,
            "group_name": self.zone,
            "check_specs": checks.check_specs(self),
            "kinds": {"spark", "delta"},
            "owners": ASSET_OWNERS,
            "tags": {"zone": self.zone, "pii": self.personal_data},
            "metadata": {"dagster/column_schema": self.declared_schema()},
        }

    def column_descriptions(self) -> dict[str, str | None]:
        return {name: column.description for name, column in self.model.to_schema().columns.items()}

    def declared_schema(self) -> dg.TableSchema:
        """The columns its Pandera model declares, with their descriptions (for the UI)."""
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=name,
                    type=column.dtype.type.simpleString(),
                    description=column.description,
                    constraints=dg.TableColumnConstraints(nullable=column.nullable),
                )
                for name, column in self.model.to_schema().columns.items()
            ]
        )

    def lineage(self) -> dg.TableColumnLineage:
        return dg.TableColumnLineage(
            deps_by_column={
                column: [dg.TableColumnDep(dg.AssetKey(asset), name) for asset, name in deps]
                for column, deps in self.column_lineage.items()
            }
        )


def same_columns(upstream: str, columns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """Column lineage of columns copied from the same-named columns of `upstream`."""
    return {column: [(upstream, column)] for column in columns}
