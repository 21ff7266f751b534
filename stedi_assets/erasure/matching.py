"""Which landing lines and table rows belong to an erased customer: pure logic, no Spark.

An erasure request names a customer only by a salted hash of their email (`email_hash`), so the
request, the run that carries it out and the erasure log hold no personal data. A landing line
belongs to the customer when a piece of it hashes to the request (`contract.erasure` states the
rule, which Spark applies to lines and rows: every word of the line, the words of its string
literals that hold escapes, decoded, and the decoded value of an `email`, `user` or
`serialNumber` member; emails trimmed and lower-cased), or when it carries a serial number that
only this customer's records carry. Any line can be judged: nothing here parses a whole line
as JSON (a deeply nested one would exhaust Python's recursion), only its string literals, one
at a time.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from stedi_assets.contract.identity import (
    ASCII_WHITESPACE,
    IDENTITY_NAMES,
    JSON_STRING,
    WORD,
    identity_member,
)

_WORD = re.compile(WORD)
_STRING_LITERAL = re.compile(JSON_STRING)
_IDENTITY_MEMBER = re.compile(identity_member(*IDENTITY_NAMES))
_EMAIL_MEMBER = re.compile(identity_member("email"))
_SERIAL_NUMBER_MEMBER = re.compile(identity_member("serialNumber"))


def email_key(email: str) -> str:
    """As the data contract identifies people: trimmed and lower-cased."""
    return email.strip(ASCII_WHITESPACE).lower()


def salted_hash(value: str, salt: str) -> str:
    """The salted SHA-256 (hex) of a value: `sha2(concat(salt, value), 256)` in Spark gives the
    same (a lone surrogate, which Spark cannot hold, is kept as its bytes)."""
    if not salt:
        raise ValueError("erasure needs a salt: set STEDI_ERASURE_SALT")
    return hashlib.sha256((salt + value).encode("utf-8", "surrogatepass")).hexdigest()


def email_hash(email: str, salt: str) -> str:
    """The salted SHA-256 (hex) of a normalised email: how the erasure log names a person."""
    return salted_hash(email_key(email), salt)


def _decoded(literal: str) -> str | None:
    """A JSON string literal's value, or None when it is not a valid one."""
    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _values(member: re.Pattern[str], line: str) -> Iterator[str]:
    for literal in member.findall(line):
        value = _decoded(literal)
        if value is not None:
            yield value


def pieces(line: str) -> Iterator[str]:
    """The pieces of a line that may name a person or a device (`contract.erasure`)."""
    yield from _WORD.findall(line)
    for literal in _STRING_LITERAL.findall(line):
        if "\\" in literal:
            yield from _WORD.findall(_decoded(literal) or "")
    yield from _values(_IDENTITY_MEMBER, line)


@dataclass(frozen=True)
class ErasedPeople:
    """The customers to erase: their email hashes and the serial numbers only they carry."""

    salt: str
    email_hashes: frozenset[str]
    serial_numbers: frozenset[str] = frozenset()

    def mentioned_in(self, line: str) -> bool:
        if any(serial in line for serial in self.serial_numbers):
            return True
        return any(email_hash(piece, self.salt) in self.email_hashes for piece in pieces(line))

    def serial_number_hashes(self) -> list[str]:
        """The salted hashes of their serial numbers, as the erasure log keeps them."""
        return sorted(salted_hash(serial, self.salt) for serial in self.serial_numbers)

    def with_serials_of(self, customer_lines: Iterable[str]) -> ErasedPeople:
        """Add the serial numbers that the erased customers' records carry and no one else's."""
        theirs: set[str] = set()
        others: set[str] = set()
        for line in customer_lines:
            erased = any(
                email_hash(email, self.salt) in self.email_hashes
                for email in _values(_EMAIL_MEMBER, line)
            )
            (theirs if erased else others).update(_values(_SERIAL_NUMBER_MEMBER, line))
        serials = frozenset(serial for serial in theirs - others if serial.strip())
        return ErasedPeople(self.salt, self.email_hashes, self.serial_numbers | serials)


Codec = tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]
CODECS: dict[str, Codec] = {
    ".gz": (gzip.decompress, gzip.compress),
    ".bz2": (bz2.decompress, bz2.compress),
    ".deflate": (zlib.decompress, zlib.compress),
}
"""How landing files compressed as Spark would decompress them (by their name's ending) are
read and written again. The contract reads only `.gz` of these (`contract.landing.refusal`);
the erasure rewrites the others too, so that no byte of an erased person stays in any."""
UNSEARCHABLE = (".lz4", ".snappy", ".zst")
"""Endings of compressed files the erasure cannot open (the contract does not read them
either): it names them, for an operator to remove or replace."""


def searchable(name: str) -> bool:
    return not name.endswith(UNSEARCHABLE)


def _codec(name: str) -> Codec | None:
    return next((codec for end, codec in CODECS.items() if name.endswith(end)), None)


def file_lines(name: str, content: bytes) -> list[bytes]:
    """A landing file's lines as Spark splits them (on newline only), decompressed by its
    name's ending (`CODECS`)."""
    codec = _codec(name)
    return (codec[0](content) if codec else content).split(b"\n")


def without_erased(name: str, content: bytes, people: ErasedPeople) -> tuple[bytes, int]:
    """The file's content without the erased people's lines, and how many lines went."""
    lines = file_lines(name, content)
    kept = [line for line in lines if not people.mentioned_in(line.decode("utf-8", "replace"))]
    if len(kept) == len(lines):
        return content, 0
    data = b"\n".join(kept)
    codec = _codec(name)
    return (codec[1](data) if codec else data), len(lines) - len(kept)
