"""Independent reference implementation of the STEDI data contract.

The end-to-end test runs the Spark/Dagster pipeline on generated landing data and compares
every table with what this module computes from the same files. It deliberately shares no
code with the pipeline: it is plain Python (standard library only), written line by line
from the contract (docs/contract.md), so a bug in the pipeline cannot hide in both.

Use :func:`compute_expected`; its result holds every table as a sorted list of row tuples
(columns in :data:`COLUMNS` order), the quarantined lines of every source and the
accounting of every trusted table.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLICIES = ("since_consent", "any_time")
SOURCES = ("customer", "accelerometer", "step_trainer")

# Whitespace of the contract: trimmed from emails, and what makes a line blank.
ASCII_WHITESPACE = " \t\n\x0b\f\r"

_BOUNDS = {"bigint": (-(2**63), 2**63 - 1), "int": (-(2**31), 2**31 - 1)}

# Plausible values (rule 1b): times from 2015-01-01 UTC to a day after the run, accelerations
# within +-16, distances from 0 to 10,000. Times are epoch milliseconds.
EARLIEST_TIME_MS = 1_420_070_400_000
FUTURE_ALLOWANCE_MS = 24 * 3_600_000
PLAUSIBLE_FIELDS: dict[str, str] = {
    "registrationDate": "time",
    "lastUpdateDate": "time",
    "shareWithResearchAsOfDate": "time",
    "shareWithPublicAsOfDate": "time",
    "shareWithFriendsAsOfDate": "time",
    "timestamp": "time",
    "sensorReadingTime": "time",
    "x": "acceleration",
    "y": "acceleration",
    "z": "acceleration",
    "distanceFromObject": "distance",
}


def _plausible(name: str, value: object, earliest_ms: int, now_ms: int) -> bool:
    measure = PLAUSIBLE_FIELDS.get(name)
    if measure is None or value is None:
        return True
    assert isinstance(value, (int, float))
    if measure == "time":
        return earliest_ms <= value <= now_ms + FUTURE_ALLOWANCE_MS
    if measure == "acceleration":
        return -16.0 <= value <= 16.0
    return 0 <= value <= 10_000


# (field, type) per source, in the landing (and trusted table) column order.
SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {
    "customer": (
        ("customerName", "string"),
        ("email", "string"),
        ("phone", "string"),
        ("birthDay", "string"),
        ("serialNumber", "string"),
        ("registrationDate", "bigint"),
        ("lastUpdateDate", "bigint"),
        ("shareWithResearchAsOfDate", "bigint"),
        ("shareWithPublicAsOfDate", "bigint"),
        ("shareWithFriendsAsOfDate", "bigint"),
    ),
    "accelerometer": (
        ("user", "string"),
        ("timestamp", "bigint"),
        ("x", "double"),
        ("y", "double"),
        ("z", "double"),
    ),
    "step_trainer": (
        ("sensorReadingTime", "bigint"),
        ("serialNumber", "string"),
        ("distanceFromObject", "int"),
    ),
}
REQUIRED: dict[str, frozenset[str]] = {
    "customer": frozenset({"email", "serialNumber", "lastUpdateDate"}),
    "accelerometer": frozenset(name for name, _ in SCHEMAS["accelerometer"]),
    "step_trainer": frozenset(name for name, _ in SCHEMAS["step_trainer"]),
}

_CUSTOMER_COLUMNS = tuple(name for name, _ in SCHEMAS["customer"])
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer_trusted": _CUSTOMER_COLUMNS,
    "accelerometer_trusted": ("user", "timestamp", "x", "y", "z"),
    "customers_curated": _CUSTOMER_COLUMNS,
    "step_trainer_trusted": ("sensorReadingTime", "serialNumber", "distanceFromObject"),
    "machine_learning_curated": (
        "sensorReadingTime",
        "serialNumber",
        "distanceFromObject",
        "x",
        "y",
        "z",
    ),
}

Row = tuple[Any, ...]


@dataclass(frozen=True)
class QuarantinedLine:
    """One quarantined line: where it is, its text (after CR/BOM removal) and why."""

    source_file_name: str
    line_number: int
    line: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Expected:
    """Everything the contract determines for one landing folder and consent policy.

    Tables are sorted lists of row tuples in :data:`COLUMNS` order (None sorts first);
    machine_learning_curated keeps repeated rows. ``quarantined`` maps a source name
    (:data:`SOURCES`) to its sorted (file name, line number) pairs, ``quarantine_details``
    to the same lines with text and reasons. ``accounting`` maps each trusted table name to
    its counts: the keys the contract lists for that table plus ``blank_lines``.
    """

    customer_trusted: list[Row]
    accelerometer_trusted: list[Row]
    customers_curated: list[Row]
    step_trainer_trusted: list[Row]
    machine_learning_curated: list[Row]
    quarantined: dict[str, list[tuple[str, int]]]
    quarantine_details: dict[str, list[QuarantinedLine]]
    accounting: dict[str, dict[str, int]]


@dataclass(frozen=True)
class _Record:
    """A valid landing line: its raw text and its typed field values (None when null)."""

    text: str
    values: dict[str, Any]


@dataclass(frozen=True)
class _Source:
    records: list[_Record]
    quarantined: list[QuarantinedLine]
    blank_lines: int
    lines_read: int
    erased_lines: int


def normalise_email(value: str) -> str:
    """Email identity of the contract: trim ASCII whitespace, then lower-case."""
    return value.strip(ASCII_WHITESPACE).lower()


# Compressions a line reader could undo that the contract refuses: such a file is not read.
NOT_READ = (".bz2", ".deflate", ".lz4", ".snappy", ".zst")


def is_landing_data(name: str) -> bool:
    """Not hidden: a name starting with '.' or '_', or ending in '._COPYING_', is not data."""
    return not (name.startswith((".", "_")) or name.endswith("._COPYING_"))


def landing_lines(directory: Path) -> list[tuple[str, int, str | None]]:
    """All lines of the landing files in ``directory`` as (file name, line number, text).

    Hidden files (``is_landing_data``) and sub-folders are skipped; a BOM at the start of a
    file and one trailing CR per line are removed; blank lines are included; a ``.gz`` file is
    decompressed. A file compressed otherwise (``NOT_READ``) is one entry, line 0, text None.
    Invalid UTF-8 is decoded with U+FFFD replacement characters. A missing folder has no lines.
    """
    if not directory.is_dir():
        return []
    result: list[tuple[str, int, str | None]] = []
    for path in sorted(directory.iterdir()):
        if not is_landing_data(path.name) or not path.is_file():
            continue
        if path.name.endswith(NOT_READ):
            result.append((path.name, 0, None))
            continue
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8", errors="replace")
        text = text.removeprefix("\ufeff")
        parts = text.split("\n")
        if parts[-1] == "":
            parts.pop()
        for number, part in enumerate(parts, start=1):
            result.append((path.name, number, part.removesuffix("\r")))
    return result


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> object:
    raise ValueError(f"non-standard JSON literal {name}")


def _typed(value: object, kind: str) -> tuple[object, str | None]:
    """(converted value, None) when ``value`` fits the field type, else (None, problem)."""
    if isinstance(value, bool):
        return None, f"boolean where {kind} expected"
    if kind == "string":
        return (value, None) if isinstance(value, str) else (None, "not a string")
    if kind == "double":
        if not isinstance(value, (int, float)):
            return None, "not a number"
        try:
            number = float(value)
        except OverflowError:
            return None, "number out of double range"
        return (number, None) if math.isfinite(number) else (None, "non-finite double")
    if not isinstance(value, int):
        return None, f"not a JSON integer ({kind})"
    low, high = _BOUNDS[kind]
    return (value, None) if low <= value <= high else (None, f"out of {kind} range")


def parse_line(
    source: str, text: str, earliest_ms: int = EARLIEST_TIME_MS, now_ms: int | None = None
) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse one read line of ``source``: (typed values, []) or (None, quarantine reasons).

    ``earliest_ms``: the earliest plausible time; ``now_ms``: the run's start, for the latest
    plausible time (now when not given)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        obj = json.loads(
            text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        return None, [f"invalid JSON: {exc}"]
    if not isinstance(obj, dict):
        return None, [f"JSON {type(obj).__name__}, not an object"]
    values: dict[str, Any] = {}
    reasons = []
    for name, kind in SCHEMAS[source]:
        raw = obj.get(name)
        if raw is None:
            if name in REQUIRED[source]:
                reasons.append(f"{name}: required field is {'null' if name in obj else 'absent'}")
            values[name] = None
            continue
        values[name], problem = _typed(raw, kind)
        if problem:
            reasons.append(f"{name}: {problem}")
        elif not _plausible(name, values[name], earliest_ms, now_ms):
            reasons.append(f"{name}: implausible value {values[name]!r}")
    email = values.get("email")
    if source == "customer" and isinstance(email, str) and not normalise_email(email):
        reasons.append("email: blank")
    return (None, reasons) if reasons else (values, [])


# Erasure: whose a line is. A word is text between white space, quotes and JSON punctuation.
_WORD = re.compile(r"[^\s\"'<>(),;:\[\]{}\\]+")
_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
_IDENTITY_MEMBER = re.compile(
    r'"(?:email|user|serialNumber)"[ \t\r\n]*:[ \t\r\n]*("(?:[^"\\]|\\.)*")'
)
_IDENTITY_FIELD = {"customer": "email", "accelerometer": "user", "step_trainer": "serialNumber"}


@dataclass(frozen=True)
class Erased:
    """Who was erased: normalised emails, and the serial numbers only they carried."""

    emails: frozenset[str] = frozenset()
    serials: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.emails or self.serials)

    def names(self, piece: str) -> bool:
        return normalise_email(piece) in self.emails or piece in self.serials


def _json_string(literal: str) -> str | None:
    try:
        value = json.loads(literal)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _line_pieces(text: str) -> list[str]:
    """Words of the line; words of its string literals with escapes, decoded; the decoded
    values of its email, user and serialNumber members."""
    found = _WORD.findall(text)
    for literal in _LITERAL.findall(text):
        if "\\" in literal:
            found += _WORD.findall(_json_string(literal) or "")
    for literal in _IDENTITY_MEMBER.findall(text):
        value = _json_string(literal)
        if value is not None:
            found.append(value)
    return found


def _is_erased(source: str, text: str, values: dict[str, Any] | None, erased: Erased) -> bool:
    """A valid record by its identity field; any other line by the pieces of its text."""
    if values is not None:
        identity = values[_IDENTITY_FIELD[source]]
        if source == "step_trainer":
            return identity in erased.serials
        return normalise_email(identity) in erased.emails
    return any(erased.names(piece) for piece in _line_pieces(text))


def _read_source(
    root: Path, source: str, earliest_ms: int, now_ms: int | None, erased: Erased
) -> _Source:
    records = []
    quarantined = []
    blank = 0
    erased_lines = 0
    for name, number, text in landing_lines(root / source / "landing"):
        if text is None:
            reason = "file not read: compressed other than gzip"
            quarantined.append(QuarantinedLine(name, number, "", (reason,)))
            continue
        if not text.strip(ASCII_WHITESPACE):
            blank += 1
            continue
        values, reasons = parse_line(source, text, earliest_ms, now_ms)
        if erased and _is_erased(source, text, values, erased):
            erased_lines += 1
        elif values is None:
            quarantined.append(QuarantinedLine(name, number, text, tuple(reasons)))
        else:
            records.append(_Record(text, values))
    return _Source(
        records, quarantined, blank, len(records) + len(quarantined) + erased_lines, erased_lines
    )


def _sorted_rows(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda row: tuple((0, 0) if v is None else (1, v) for v in row))


def compute_expected(
    root: Path,
    policy: str = "since_consent",
    earliest_time_ms: int = EARLIEST_TIME_MS,
    erased: frozenset[str] = frozenset(),
    erased_serials: frozenset[str] = frozenset(),
    now_ms: int | None = None,
) -> Expected:
    """Compute every table, quarantine and accounting the contract defines for lake ``root``.

    ``earliest_time_ms``: the earliest plausible time (hand-made lakes use small times).
    ``erased``: normalised emails of customers erased from the lake, and ``erased_serials``
    the serial numbers only they carried: their lines landing later are dropped, counted as
    ``erased``. ``now_ms``: the run's start (now when not given)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown consent policy {policy!r}; expected one of {POLICIES}")
    since_consent = policy == "since_consent"
    gone = Erased(frozenset(erased), frozenset(erased_serials))
    customers = _read_source(root, "customer", earliest_time_ms, now_ms, gone)
    readings = _read_source(root, "accelerometer", earliest_time_ms, now_ms, gone)
    steps = _read_source(root, "step_trainer", earliest_time_ms, now_ms, gone)

    # Rule 3: the current record of every email; consenting ones form customer_trusted.
    current: dict[str, tuple[int, str, dict[str, Any]]] = {}
    for record in customers.records:
        email = normalise_email(record.values["email"])
        candidate = (record.values["lastUpdateDate"], record.text, record.values)
        best = current.get(email)
        if best is None or candidate[:2] > best[:2]:
            current[email] = candidate
    consent: dict[str, int] = {}
    customer_rows: dict[str, Row] = {}
    for email, (_, _, values) in current.items():
        research = values["shareWithResearchAsOfDate"]
        if isinstance(research, int):
            consent[email] = research
            customer_rows[email] = tuple(
                email if name == "email" else values[name] for name in _CUSTOMER_COLUMNS
            )

    # Rule 5: distinct readings of consenting users, at or after consent under since_consent.
    distinct_readings = {
        (
            normalise_email(r.values["user"]),
            r.values["timestamp"],
            r.values["x"],
            r.values["y"],
            r.values["z"],
        ): None
        for r in readings.records
    }
    reading_counts = {"no_consent": 0, "before_consent": 0}
    reading_rows: list[Row] = []
    for row in distinct_readings:
        user, timestamp = row[0], row[1]
        if user not in consent:
            reading_counts["no_consent"] += 1
        elif since_consent and timestamp < consent[user]:
            reading_counts["before_consent"] += 1
        else:
            reading_rows.append(row)

    # Rule 6: consenting customers with at least one trusted reading.
    curated_emails = {row[0] for row in reading_rows}
    curated_rows = [row for email, row in customer_rows.items() if email in curated_emails]

    # Rule 7: step readings of attributable serials whose owner is a curated customer.
    carriers: dict[str, set[str]] = {}
    for email, (_, _, values) in current.items():
        carriers.setdefault(values["serialNumber"], set()).add(email)
    distinct_steps = {
        (
            s.values["sensorReadingTime"],
            s.values["serialNumber"],
            s.values["distanceFromObject"],
        ): None
        for s in steps.records
    }
    step_counts = {"withheld": 0, "no_consent": 0, "before_consent": 0}
    step_rows: list[Row] = []
    owners: dict[str, str] = {}
    for row in distinct_steps:
        time, serial = row[0], row[1]
        emails = carriers.get(serial, set())
        if len(emails) >= 2:
            step_counts["withheld"] += 1
            continue
        owner = next(iter(emails), None)
        if owner is None or owner not in curated_emails:
            step_counts["no_consent"] += 1
        elif since_consent and time < consent[owner]:
            step_counts["before_consent"] += 1
        else:
            owners[serial] = owner
            step_rows.append(row)

    # Rule 8: pair each trusted step reading with its owner's readings at that millisecond.
    xyz_at: dict[tuple[str, int], list[Row]] = {}
    for user, timestamp, x, y, z in reading_rows:
        xyz_at.setdefault((user, timestamp), []).append((x, y, z))
    ml_rows = [
        (*step, *xyz) for step in step_rows for xyz in xyz_at.get((owners[step[1]], step[0]), [])
    ]

    accounting = {
        "customer_trusted": {
            "lines_read": customers.lines_read,
            "kept": len(customer_rows),
            "quarantined": len(customers.quarantined),
            "superseded": len(customers.records) - len(current),
            "no_consent": len(current) - len(customer_rows),
            "erased": customers.erased_lines,
            "blank_lines": customers.blank_lines,
        },
        "accelerometer_trusted": {
            "lines_read": readings.lines_read,
            "kept": len(reading_rows),
            "quarantined": len(readings.quarantined),
            "duplicate": len(readings.records) - len(distinct_readings),
            **reading_counts,
            "erased": readings.erased_lines,
            "blank_lines": readings.blank_lines,
        },
        "step_trainer_trusted": {
            "lines_read": steps.lines_read,
            "kept": len(step_rows),
            "quarantined": len(steps.quarantined),
            "duplicate": len(steps.records) - len(distinct_steps),
            **step_counts,
            "erased": steps.erased_lines,
            "blank_lines": steps.blank_lines,
        },
    }
    sources = {"customer": customers, "accelerometer": readings, "step_trainer": steps}
    details = {
        name: sorted(src.quarantined, key=lambda q: (q.source_file_name, q.line_number))
        for name, src in sources.items()
    }
    return Expected(
        customer_trusted=_sorted_rows(list(customer_rows.values())),
        accelerometer_trusted=_sorted_rows(reading_rows),
        customers_curated=_sorted_rows(curated_rows),
        step_trainer_trusted=_sorted_rows(step_rows),
        machine_learning_curated=_sorted_rows(ml_rows),
        quarantined={
            name: [(q.source_file_name, q.line_number) for q in lines]
            for name, lines in details.items()
        },
        quarantine_details=details,
        accounting=accounting,
    )
