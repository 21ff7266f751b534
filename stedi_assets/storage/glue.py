"""Registering the lake's tables in the AWS Glue Data Catalog, so Athena can query them.

Landing folders become JSON tables (the course's `customer_landing` DDL: the OpenX JSON SerDe);
trusted, curated and quarantine tables become Delta tables that Athena reads natively
(`table_type=DELTA`). Registration is idempotent: a table that exists is updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stedi_assets.contract.landing import LandingSource
    from stedi_assets.storage.lake import LakeLayout
    from stedi_assets.tables.catalogue import LakeTable

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type: str
    comment: str | None = None

    def as_glue(self) -> dict[str, str]:
        column = {"Name": self.name, "Type": self.type}
        if self.comment:
            column["Comment"] = self.comment[:255]
        return column


def s3_location(uri: str) -> str:
    """Athena and Glue address S3 as `s3://`, Spark as `s3a://`."""
    return "s3://" + uri.split("://", 1)[1] if uri.startswith("s3a://") else uri


def _table_input(
    name: str,
    description: str,
    parameters: dict[str, str],
    columns: list[CatalogColumn],
    storage: dict[str, Any],
) -> dict[str, Any]:
    return {
        "Name": name,
        "Description": description[:2048],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {**parameters, "EXTERNAL": "TRUE"},
        "StorageDescriptor": {"Columns": [column.as_glue() for column in columns], **storage},
    }


def delta_table_input(
    name: str, location: str, columns: list[CatalogColumn], description: str
) -> dict[str, Any]:
    """A Delta table, which Athena reads natively from its transaction log."""
    parameters = {
        "table_type": "DELTA",
        "classification": "delta",
        "spark.sql.sources.provider": "delta",
    }
    storage = {
        "Location": s3_location(location),
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
    }
    return _table_input(name, description, parameters, columns, storage)


def json_table_input(
    name: str, location: str, columns: list[CatalogColumn], description: str
) -> dict[str, Any]:
    """A folder of newline-delimited JSON files, read with the OpenX JSON SerDe."""
    storage = {
        "Location": s3_location(location).rstrip("/") + "/",
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {
            "SerializationLibrary": JSON_SERDE,
            "Parameters": {
                "paths": ",".join(column.name for column in columns),
                "case.insensitive": "TRUE",
                "ignore.malformed.json": "TRUE",
            },
        },
    }
    return _table_input(name, description, {"classification": "json"}, columns, storage)


QUARANTINE_COLUMNS = [
    CatalogColumn("source_file", "string", "The landing file the line came from."),
    CatalogColumn("line_number", "bigint", "The line's number in that file, from 1."),
    CatalogColumn("line", "string", "The line as it was (may hold personal data)."),
    CatalogColumn("reason", "string", "Every way the line breaks the data contract."),
]


def zone_table_inputs(
    layout: LakeLayout,
    table: LakeTable,
    columns: list[CatalogColumn],
    description: str,
    landing: LandingSource | None = None,
) -> list[dict[str, Any]]:
    """Glue table inputs for a zone table and, for a trusted one (which reads `landing`), its
    quarantine and its landing folder. Column comments are the descriptions the UI shows."""
    inputs = [delta_table_input(table.name, table.uri(layout), columns, description)]
    if landing is not None:
        comments = {column.name: column.comment for column in columns}
        landing_columns = [
            CatalogColumn(field.name, field.type_name, comments.get(field.name))
            for field in landing.fields
        ]
        inputs += [
            delta_table_input(
                f"{landing.name}_quarantine",
                layout.quarantine(landing.name),
                QUARANTINE_COLUMNS,
                f"Lines of {landing.name} landing that broke the data contract, with the reason.",
            ),
            json_table_input(
                f"{landing.name}_landing",
                layout.landing(landing.name),
                landing_columns,
                landing.description,
            ),
        ]
    return inputs


@dataclass(frozen=True)
class GlueCatalog:
    client: Any  # a boto3 Glue client
    database: str

    def register(self, table_input: dict[str, Any]) -> None:
        """Create the table, or update it when it exists (and the database when it does not)."""
        glue = self.client
        try:
            glue.create_database(DatabaseInput={"Name": self.database})
        except glue.exceptions.AlreadyExistsException:
            pass
        try:
            glue.create_table(DatabaseName=self.database, TableInput=table_input)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=self.database, TableInput=table_input)
