"""Which columns hold personal data, and how a value of one may be shown outside the lake.

Dagster's storage keeps what a run shows (metadata, check failures) for good, beyond the reach
of an erasure: personal values go there masked or as a hash no one can reverse.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from functools import cache

from pyspark.sql import DataFrame

MASK = "•••"
DIRECT_IDENTIFIERS = ("email", "user", "customerName", "phone", "birthDay")
"""Columns that name or describe a person: personal data in any table."""
PSEUDONYMS = ("serialNumber",)
"""Columns that identify a person only through another table (a device's serial number, which
the customer tables link to one customer): pseudonymous personal data."""
PERSONAL_COLUMNS = DIRECT_IDENTIFIERS + PSEUDONYMS
TIMES = (
    "timestamp",
    "sensorReadingTime",
    "registrationDate",
    "lastUpdateDate",
    "shareWithResearchAsOfDate",
    "shareWithPublicAsOfDate",
    "shareWithFriendsAsOfDate",
)
"""Epoch-millisecond columns: a preview shows their day only."""


def personal_data(columns: Sequence[str]) -> str:
    """The `pii` tag of a table with `columns`: `true` (a direct identifier), `pseudonymous`
    (only a serial number) or `false`."""
    if any(name in DIRECT_IDENTIFIERS for name in columns):
        return "true"
    return "pseudonymous" if any(name in PSEUDONYMS for name in columns) else "false"


@cache
def _example_salt() -> bytes:
    """A secret of this process, never stored: the hashes it salts match nothing outside it."""
    return secrets.token_bytes(32)


def _hashed(value: object) -> str:
    return hashlib.sha256(_example_salt() + str(value).encode()).hexdigest()[:16]


def example_keys(rows: DataFrame, key_columns: Sequence[str], limit: int = 5) -> list[dict]:
    """A few rows' keys for a check failure; personal fields become a salted hash (in Python,
    after the rows are read: the salt is in no plan), equal for equal values within a run."""
    examples = rows.select(*key_columns).limit(limit).collect()
    return [
        {
            (f"{name}_hash" if name in PERSONAL_COLUMNS else name): (
                _hashed(row[name]) if name in PERSONAL_COLUMNS else row[name]
            )
            for name in key_columns
        }
        for row in examples
    ]


_PERSONAL_MEMBER = re.compile(
    r'("(?:' + "|".join(PERSONAL_COLUMNS) + r')"[ \t\r\n]*:[ \t\r\n]*)'
    r'("(?:[^"\\]|\\.)*"|[^,}\]\s]+)'
)
_EMAIL_LIKE = re.compile(r"[^\s\"'<>(),;:\[\]{}]+@[^\s\"'<>(),;:\[\]{}]+")


def masked_line(line: str) -> str:
    """A raw landing line with the value of every personal field masked, and any text that
    looks like an email (a line that is not valid JSON still has its fields' text)."""
    line = _PERSONAL_MEMBER.sub(lambda match: f'{match.group(1)}"{MASK}"', line)
    return _EMAIL_LIKE.sub(MASK, line)
