"""Pandera models of the curated tables."""

import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field

from stedi_assets.tables.trusted_schemas import CustomerTrusted


class CustomersCurated(CustomerTrusted):
    """Consenting customers with at least one trusted phone reading: same columns as trusted."""


class MachineLearningCurated(DataFrameModel):
    """Training rows: no direct identifier (strict: any extra column fails). The serial number is
    pseudonymous: it identifies a customer only through the customer tables."""

    sensorReadingTime: T.LongType() = Field(
        nullable=False, description="Reading time, epoch milliseconds."
    )
    serialNumber: T.StringType() = Field(
        nullable=False, description="Serial number of the step trainer."
    )
    distanceFromObject: T.IntegerType() = Field(
        nullable=False, description="Distance the step trainer measured."
    )
    x: T.DoubleType() = Field(
        nullable=False,
        description="Phone acceleration along x, same person, same millisecond.",
    )
    y: T.DoubleType() = Field(
        nullable=False,
        description="Phone acceleration along y, same person, same millisecond.",
    )
    z: T.DoubleType() = Field(
        nullable=False,
        description="Phone acceleration along z, same person, same millisecond.",
    )

    class Config:
        strict = True
