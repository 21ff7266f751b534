"""How the contract identifies a person: by their email, trimmed and lower-cased."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ASCII_WHITESPACE = " \t\n\u000b\f\r"
"""What blank lines and blank emails consist of, and what emails are trimmed of."""

WORD = r"[^\s\"'<>(),;:\[\]{}\\]+"
"""A piece of a line between white space, quotes and JSON punctuation: emails and serial
numbers are words."""
JSON_STRING = r'"(?:[^"\\]++|\\.)*+"'
"""A JSON string literal, quotes included. Possessive, so it takes linear time on any line; the
same text is a pattern for Spark (Java) and for Python's `re`, which must find the same
literals: the erasure matches lines in both."""
IDENTITY_NAMES = ("email", "user", "serialNumber")
"""The members of a landing record that name a person or a device."""


def identity_member(*names: str) -> str:
    """A JSON member named one of `names`; group 1 is its value's literal."""
    return rf'"(?:{"|".join(names)})"[ \t\r\n]*+:[ \t\r\n]*+({JSON_STRING})'


def normalized_email(email: Column) -> Column:
    """Emails identify people trimmed and lower-cased, everywhere (customer and accelerometer)."""
    return F.lower(F.trim(email, F.lit(ASCII_WHITESPACE)))
