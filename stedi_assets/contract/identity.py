"""How the contract identifies a person: by their email, trimmed and lower-cased; and how the
erasure log names one without holding the email: a salted SHA-256 of it."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ASCII_WHITESPACE = " \t\n\u000b\f\r"
"""What blank lines and blank emails consist of, and what emails are trimmed of."""


def normalized_email(email: Column) -> Column:
    """Emails identify people trimmed and lower-cased, everywhere (customer and accelerometer)."""
    return F.lower(F.trim(email, F.lit(ASCII_WHITESPACE)))


def salted_hash(value: Column, salt: str) -> Column:
    """The salted SHA-256 (hex) of a value: `erasure.matching` computes the same in Python."""
    return F.sha2(F.concat(F.lit(salt), value), 256)


def hashed_email(email: Column, salt: str) -> Column:
    """The salted SHA-256 of a normalised email: how the erasure log names a person."""
    return salted_hash(normalized_email(email), salt)
