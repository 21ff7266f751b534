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

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from stedi_assets.contract.identity import hashed_email, salted_hash

WORD = r"[^\s\"'<>(),;:\[\]{}\\]+"
"""A piece of a line between white space, quotes and JSON punctuation: emails and serial
numbers are words."""
STRING_LITERAL = r'"(?:[^"\\]++|\\.)*+"'
"""A JSON string literal, quotes included."""
IDENTITY_MEMBER = r'"(?:email|user|serialNumber)"[ \t\r\n]*+:[ \t\r\n]*+("(?:[^"\\]++|\\.)*+")'
"""A member naming a person or a device; group 1 is its value's literal."""


@dataclass(frozen=True)
class ErasedHashes:
    """The erasure log's hashes, and the salt that made them (a secret)."""

    salt: str
    emails: tuple[str, ...]
    serial_numbers: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.emails or self.serial_numbers)


def _is_erased_email(email: Column, erased: ErasedHashes) -> Column:
    return hashed_email(email, erased.salt).isin(list(erased.emails))


def _is_erased_serial(serial: Column, erased: ErasedHashes) -> Column:
    return salted_hash(serial, erased.salt).isin(list(erased.serial_numbers))


def _decoded(literal: Column) -> Column:
    """A JSON string literal's value (null when it is not a valid one)."""
    return F.try_variant_get(F.try_parse_json(literal), "$", "string")


def _pieces(line: Column) -> Column:
    """The pieces of a line that may name a person or a device (see the module's docstring)."""
    escaped = F.filter(
        F.regexp_extract_all(line, F.lit(STRING_LITERAL), 0), lambda text: text.contains("\\")
    )
    words_of_escaped = F.flatten(
        F.transform(escaped, lambda text: F.regexp_extract_all(_decoded(text), F.lit(WORD), 0))
    )
    members = F.transform(
        F.regexp_extract_all(line, F.lit(IDENTITY_MEMBER), 1), lambda text: _decoded(text)
    )
    return F.concat(F.regexp_extract_all(line, F.lit(WORD), 0), words_of_escaped, members)


def line_is_erased(line: Column, erased: ErasedHashes) -> Column:
    """True for a line (kept as text) that mentions an erased person or device."""
    return F.exists(
        _pieces(line),
        lambda piece: F.coalesce(
            _is_erased_email(piece, erased) | _is_erased_serial(piece, erased), F.lit(False)
        ),
    )


IDENTITY = {"customer": "email", "accelerometer": "user", "step_trainer": "serialNumber"}
"""The field that says whose a valid record of each landing source is."""


def record_is_erased(identity: str, erased: ErasedHashes) -> Column:
    """True for a valid record whose identity field (`IDENTITY`) is an erased person's."""
    value = F.col(identity)
    matched = (
        _is_erased_serial(value, erased)
        if identity == "serialNumber"
        else _is_erased_email(value, erased)
    )
    return F.coalesce(matched, F.lit(False))


def rows_erased(rows: DataFrame, erased: ErasedHashes, columns: Sequence[str] = ()) -> Column:
    """True for a table row of an erased person: by its `email` or `user`, its `serialNumber`,
    or a quarantined `line` that mentions them."""
    present = set(columns or rows.columns)
    conditions = [F.lit(False)]
    for column in ("email", "user", "serialNumber"):
        if column in present:
            conditions.append(record_is_erased(column, erased))
    if "line" in present:
        conditions.append(F.coalesce(line_is_erased(F.col("line"), erased), F.lit(False)))
    mentioned = conditions[0]
    for condition in conditions[1:]:
        mentioned = mentioned | condition
    return mentioned
