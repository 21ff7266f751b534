"""Pandera models of the trusted tables: what every published row is guaranteed to look like."""

import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field

NORMALIZED_EMAIL = r"^(?!\s)[^A-Z]*(?<!\s)$"
"""Trimmed and lower-cased: the contract's identity of a person."""


class CustomerTrusted(DataFrameModel):
    """The current record of each customer who shares data with research."""

    customerName: T.StringType() = Field(nullable=True, description="Full name (personal data).")
    email: T.StringType() = Field(
        nullable=False,
        str_matches=NORMALIZED_EMAIL,
        description="Email, trimmed and lower-cased: the customer's identity (personal data).",
    )
    phone: T.StringType() = Field(nullable=True, description="Phone number (personal data).")
    birthDay: T.StringType() = Field(
        nullable=True, description="Birth date, YYYY-MM-DD (personal data)."
    )
    serialNumber: T.StringType() = Field(
        nullable=False, description="Serial number of the customer's step trainer."
    )
    registrationDate: T.LongType() = Field(
        nullable=True, description="Registration time, epoch milliseconds."
    )
    lastUpdateDate: T.LongType() = Field(
        nullable=False,
        description="Time of this record, epoch milliseconds; the newest one is current.",
    )
    shareWithResearchAsOfDate: T.LongType() = Field(
        nullable=False,
        description="Consent to research since, epoch milliseconds; never null here.",
    )
    shareWithPublicAsOfDate: T.LongType() = Field(
        nullable=True,
        description="Consent to public sharing since, epoch milliseconds.",
    )
    shareWithFriendsAsOfDate: T.LongType() = Field(
        nullable=True,
        description="Consent to sharing with friends since, epoch milliseconds.",
    )

    class Config:
        strict = True
        unique = ("email",)


class AccelerometerTrusted(DataFrameModel):
    """Distinct phone accelerometer readings of consenting customers."""

    user: T.StringType() = Field(
        nullable=False,
        str_matches=NORMALIZED_EMAIL,
        description="Email of the phone's owner, normalised (personal data).",
    )
    timestamp: T.LongType() = Field(nullable=False, description="Reading time, epoch milliseconds.")
    x: T.DoubleType() = Field(nullable=False, description="Acceleration along x.")
    y: T.DoubleType() = Field(nullable=False, description="Acceleration along y.")
    z: T.DoubleType() = Field(nullable=False, description="Acceleration along z.")

    class Config:
        strict = True
        unique = (
            "user",
            "timestamp",
            "x",
            "y",
            "z",
        )


class StepTrainerTrusted(DataFrameModel):
    """Distinct step-trainer readings attributed to exactly one curated customer."""

    sensorReadingTime: T.LongType() = Field(
        nullable=False, description="Reading time, epoch milliseconds."
    )
    serialNumber: T.StringType() = Field(nullable=False, description="Serial number of the device.")
    distanceFromObject: T.IntegerType() = Field(
        nullable=False, description="Distance the sensor measured."
    )

    class Config:
        strict = True
        unique = (
            "sensorReadingTime",
            "serialNumber",
            "distanceFromObject",
        )
