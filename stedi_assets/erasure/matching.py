"""Which landing lines and table rows belong to an erased customer: pure logic, no Spark.

An erasure request names a customer only by a salted hash of their email (`email_hash`), so the
request, the run that carries it out and the erasure log hold no personal data. A landing line
belongs to the customer when any email in it (a JSON `email`/`user` field, or any email-like
text, which also finds them in broken lines) hashes to the request, or when it carries a serial
number that only this customer's records carry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

ASCII_WHITESPACE = " \t\n\x0b\f\r"
EMAIL_TOKEN = r"[^\s\"'<>(),;:\[\]{}\\]+@[^\s\"'<>(),;:\[\]{}\\]+"
"""Email-like text: the same pattern finds emails in landing lines here and in quarantine rows
in Spark (`erasure.lake`)."""
_EMAIL_TOKEN = re.compile(EMAIL_TOKEN)
_EMAIL_FIELDS = ("email", "user")


def normalized_email(email: str) -> str:
    """As the data contract identifies people: trimmed and lower-cased."""
    return email.strip(ASCII_WHITESPACE).lower()


def email_hash(email: str, salt: str) -> str:
    """The salted SHA-256 (hex) of a normalised email: `sha2(concat(salt, email), 256)` in
    Spark gives the same."""
    if not salt:
        raise ValueError("erasure needs a salt: set STEDI_ERASURE_SALT")
    return hashlib.sha256((salt + normalized_email(email)).encode()).hexdigest()


@dataclass(frozen=True)
class ErasedPeople:
    """The customers to erase: their email hashes and the serial numbers only they carry."""

    salt: str
    email_hashes: frozenset[str]
    serial_numbers: frozenset[str] = frozenset()

    def _emails_in(self, line: str) -> Iterable[str]:
        yield from _EMAIL_TOKEN.findall(line)
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict):
            yield from (record[f] for f in _EMAIL_FIELDS if isinstance(record.get(f), str))

    def mentioned_in(self, line: str) -> bool:
        if any(serial in line for serial in self.serial_numbers):
            return True
        return any(
            email_hash(email, self.salt) in self.email_hashes for email in self._emails_in(line)
        )

    def with_serials_of(self, customer_lines: Iterable[str]) -> ErasedPeople:
        """Add the serial numbers that the erased customers' records carry and no one else's."""
        theirs: set[str] = set()
        others: set[str] = set()
        for line in customer_lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("serialNumber"), str):
                continue
            email = record.get("email")
            erased = isinstance(email, str) and email_hash(email, self.salt) in self.email_hashes
            (theirs if erased else others).add(record["serialNumber"])
        serials = frozenset(serial for serial in theirs - others if serial.strip())
        return ErasedPeople(self.salt, self.email_hashes, self.serial_numbers | serials)


def file_lines(name: str, content: bytes) -> list[bytes]:
    """A landing file's lines as Spark splits them (on newline only), gzip by a `.gz` name."""
    return (gzip.decompress(content) if name.endswith(".gz") else content).split(b"\n")


def without_erased(name: str, content: bytes, people: ErasedPeople) -> tuple[bytes, int]:
    """The file's content without the erased people's lines, and how many lines went."""
    lines = file_lines(name, content)
    kept = [line for line in lines if not people.mentioned_in(line.decode("utf-8", "replace"))]
    if len(kept) == len(lines):
        return content, 0
    data = b"\n".join(kept)
    return (gzip.compress(data) if name.endswith(".gz") else data), len(lines) - len(kept)
