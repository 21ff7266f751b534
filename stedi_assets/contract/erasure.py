"""Whose a landing line or a table row is, by the erasure log's salted hashes: Spark expressions.

The erasure log names each erased person by the salted SHA-256 of their normalised email, and
the devices only they carried by the salted SHA-256 of the serial number; no email or serial
number is ever written. A run drops an erased person's lines when it parses landing (their data
delivered again stays out of every table, `erased` in the accounting), and the erasure removes
their rows from every table, with the same rules:

- a valid record is theirs by its identity: a customer record by its `email`, a phone reading by
  its `user`, a device reading by its `serialNumber`;
- a line kept as text (a quarantined line) is theirs when any piece of it does: every word of
  the line (text between white space, quotes and JSON punctuation: an email, a serial number),
  the words of its string literals that hold escapes, once decoded (`"ann@ex\\u0061mple.com"`),
  and the decoded value of an `email`, `user` or `serialNumber` member. An email piece is
  trimmed and lower-cased before it is hashed, as the contract compares emails.

`erasure.matching` applies the same rules to landing files, in Python.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from stedi_assets.contract.identity import (
    IDENTITY_NAMES,
    JSON_STRING,
    WORD,
    identity_member,
    normalized_email,
)

IDENTITY_MEMBER = identity_member(*IDENTITY_NAMES)
"""A member naming a person or a device; group 1 is its value's literal."""

_SALT, _EMAILS, _SERIALS = "_erasure_salt", "_erased_email_hashes", "_erased_serial_hashes"
_KEY_SCHEMA = f"{_SALT} string, {_EMAILS} array<string>, {_SERIALS} array<string>"


@dataclass(frozen=True)
class ErasedHashes:
    """The erasure log's hashes and the salt that made them (a secret), as one row of data that
    the rows to judge are joined with: neither the salt nor a hash is a literal of any plan
    (plans reach Spark's UI and a Spark Connect server's log)."""

    key: DataFrame
    """One row: the salt, the email hashes, the serial-number hashes."""

    @classmethod
    def of(
        cls, spark: SparkSession, salt: str, emails: Sequence[str], serials: Sequence[str]
    ) -> ErasedHashes:
        return cls(spark.createDataFrame([(salt, list(emails), list(serials))], _KEY_SCHEMA))

    def joined(self, rows: DataFrame) -> DataFrame:
        """`rows` with the key's columns, for `line_is_erased` and `record_is_erased`."""
        return rows.crossJoin(F.broadcast(self.key))

    @staticmethod
    def without_key(rows: DataFrame) -> DataFrame:
        return rows.drop(_SALT, _EMAILS, _SERIALS)


def _hash(value: Column) -> Column:
    return F.sha2(F.concat(F.col(_SALT), value), 256)


def _is_erased_email(email: Column) -> Column:
    return F.array_contains(F.col(_EMAILS), _hash(normalized_email(email)))


def _is_erased_serial(serial: Column) -> Column:
    return F.array_contains(F.col(_SERIALS), _hash(serial))


def _decoded(literal: Column) -> Column:
    """A JSON string literal's value (null when it is not a valid one)."""
    return F.try_variant_get(F.try_parse_json(literal), "$", "string")


def _pieces(line: Column) -> Column:
    """The pieces of a line that may name a person or a device (see the module's docstring)."""
    escaped = F.filter(
        F.regexp_extract_all(line, F.lit(JSON_STRING), 0), lambda text: text.contains("\\")
    )
    words_of_escaped = F.flatten(
        F.transform(escaped, lambda text: F.regexp_extract_all(_decoded(text), F.lit(WORD), 0))
    )
    members = F.transform(
        F.regexp_extract_all(line, F.lit(IDENTITY_MEMBER), 1), lambda text: _decoded(text)
    )
    return F.concat(F.regexp_extract_all(line, F.lit(WORD), 0), words_of_escaped, members)


def line_is_erased(line: Column) -> Column:
    """True for a line (kept as text) that mentions an erased person or device (on rows
    `ErasedHashes.joined`)."""
    return F.coalesce(
        F.exists(
            _pieces(line),
            lambda piece: F.coalesce(
                _is_erased_email(piece) | _is_erased_serial(piece), F.lit(False)
            ),
        ),
        F.lit(False),
    )


IDENTITY = {"customer": "email", "accelerometer": "user", "step_trainer": "serialNumber"}
"""The field that says whose a valid record of each landing source is."""


def record_is_erased(identity: str) -> Column:
    """True for a valid record whose identity field (`IDENTITY`) is an erased person's (on rows
    `ErasedHashes.joined`)."""
    value = F.col(identity)
    matched = _is_erased_serial(value) if identity == "serialNumber" else _is_erased_email(value)
    return F.coalesce(matched, F.lit(False))


def rows_not_erased(rows: DataFrame, erased: ErasedHashes) -> DataFrame:
    """The rows of a table that are no erased person's: not by their `email` or `user`, their
    `serialNumber`, nor a quarantined `line` that mentions them."""
    identities = [name for name in ("email", "user", "serialNumber") if name in rows.columns]
    conditions = [record_is_erased(name) for name in identities]
    if "line" in rows.columns:
        conditions.append(line_is_erased(F.col("line")))
    mentioned = reduce(operator.or_, conditions, F.lit(False))
    return ErasedHashes.without_key(erased.joined(rows).where(~mentioned))
