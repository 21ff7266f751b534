"""How the contract identifies a person: by their email, trimmed and lower-cased."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ASCII_WHITESPACE = " \t\n\u000b\f\r"
"""What blank lines and blank emails consist of, and what emails are trimmed of."""


def normalized_email(email: Column) -> Column:
    """Emails identify people trimmed and lower-cased, everywhere (customer and accelerometer)."""
    return F.lower(F.trim(email, F.lit(ASCII_WHITESPACE)))
