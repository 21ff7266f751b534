"""Generate realistic STEDI landing data, with every fault the data contract names.

Why this exists: the lakehouse needs landing data for three purposes, and the real STEDI
exports (the Udacity course data) are small and clean. The demo needs a believable lake to
run on; the tests need data that exercises every rule of the contract (docs/contract.md):
consent withdrawals and grants, email case/space variants, redelivered files, malformed
lines of every kind, shared device serial numbers, same-millisecond readings, readings
before consent, unknown users and devices; the benchmark needs millions of readings, fast.

The data is modelled on the course data: customers register, most consent to research,
their phone's accelerometer sends about ``readings_per_customer`` readings spread over days,
and their step trainer sends a reading at about a third of those milliseconds. Every fault
is injected in a seed-dependent amount (a few percent, at least one of each).

Output is fully determined by the arguments: one ``random.Random`` per concern, seeded
from ``seed``, and no clock. Lines are formatted from precomputed pieces with f-strings and
written in blocks, so ten million readings take well under a few minutes.

Run ``stedi sample-data --help``.
"""

from __future__ import annotations

import math
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import BinaryIO

SOURCES = ("customer", "accelerometer", "step_trainer")
MIN_CUSTOMERS = 20  # fewer cannot hold one customer of every fault role
MIN_READINGS_PER_CUSTOMER = 10
MIN_FILE_BYTES = 64 * 2**10

_SECOND = 1_000
_HOUR = 3_600 * _SECOND
_DAY = 24 * _HOUR
_EPOCH_2021 = 1_609_459_200_000  # 2021-01-01T00:00:00Z in epoch milliseconds
_WRITE_BUFFER = 8 * 2**20
_BOM = "\ufeff".encode()

_FIRST_NAMES = (
    "Santosh", "Sarah", "Jerry", "Frank", "Lyn", "Chris", "Liz", "Ben", "Spencer", "Jeff",
    "Gail", "Bobby", "Danny", "Kris", "Edward", "Trevor", "Ava", "Olivia", "Noah", "Mateo",
    "Chloé", "José", "Zoë", "Renée", "Björn", "Łukasz", "Søren", "Aiko", "Priya", "Wei",
)  # fmt: skip
_LAST_NAMES = (
    "Clayton", "Lincoln", "Ahmed", "Jackson", "Davis", "Mitra", "Anderson", "Wu", "Hansen",
    "Gonzales", "Huey", "Fibonnaci", "Stafford", "Müller", "Núñez", "O'Brien", "García",
    "Kowalski", "Nakamura", "Patel", "Smith", "Johnson", "Lee", "Brown", "Okafor",
)  # fmt: skip
_TO_ASCII = str.maketrans(
    {"é": "e", "ë": "e", "ö": "o", "ü": "u", "ú": "u", "ñ": "n", "í": "i", "ø": "o",
     "Ł": "L", "ł": "l", "'": ""}
)  # fmt: skip
_DOMAINS = ("test.com", "example.com", "stedi.example", "mail.example")
_GHOST_DOMAIN = "guest.stedi.example"  # no customer email uses it

# Disjoint customer roles: name -> (min, max) fraction of customers, drawn per seed.
# Everyone else is an ordinary consenting customer with phone and device readings.
_ROLE_RATES = {
    "never_consent": (0.15, 0.25),  # no research consent in any record
    "withdraw": (0.01, 0.03),  # consents, then a later record withdraws
    "grant": (0.01, 0.03),  # no consent, then a later record grants it
    "update": (0.02, 0.05),  # later record changes the phone (consent unchanged)
    "tie": (0.005, 0.015),  # two records with the same lastUpdateDate
    "before_consent": (0.01, 0.03),  # readings start before the consent date
    "multi_ms": (0.005, 0.015),  # several readings in one millisecond
    "device_only": (0.002, 0.008),  # step readings but no phone readings
    "no_readings": (0.02, 0.04),  # no readings at all
    "no_device": (0.06, 0.10),  # phone readings but no step readings
}
_PAIR_RATE = (0.005, 0.015)  # pairs of customers sharing reading milliseconds
_SHARED_SERIAL_RATE = (0.003, 0.01)  # groups of 2-3 customers with one serial number
_CUSTOMER_MARK_RATE = (0.01, 0.03)  # per-customer extras (variants, CRLF, duplicates, ...)
_MALFORMED_RATE = (0.0005, 0.0015)  # per malformed-line kind, fraction of a source's lines
_GHOST_RATE = (0.005, 0.015)  # unknown users and unknown devices, relative to customers

_JsonPairs = list[tuple[str, str]]  # (field, JSON token) pairs of one record


@dataclass(frozen=True)
class SourceSummary:
    """What was written for one source (landing files, redelivered copy included;
    hidden files excluded)."""

    files: int
    lines: int
    bytes: int


@dataclass(frozen=True)
class SampleSummary:
    """Counts of what :func:`write_sample_landing` wrote and of every fault it injected."""

    customer: SourceSummary
    accelerometer: SourceSummary
    step_trainer: SourceSummary
    faults: dict[str, int]


@dataclass(slots=True)
class _Customer:
    """One customer's original landing record plus how their readings behave."""

    name: str
    email: str
    phone: str
    birthday: str
    serial: str
    registered: int
    updated: int
    research: int | None
    public: int | None
    friends: int | None
    role: str = ""
    readings_start: int = 0
    later: int = 0  # lastUpdateDate of the withdraw/grant/update record


@dataclass
class _Plan:
    customers: list[_Customer]
    pairs: dict[int, int]  # follower index -> leader index
    marks: dict[str, set[int]]  # per-customer extra fault -> customer indices
    faults: dict[str, int]  # fault name -> injected amount, filled in as they are injected

    def phone(self, index: int) -> bool:
        return self.customers[index].role not in ("device_only", "no_readings")

    def device(self, index: int) -> bool:
        return self.customers[index].role not in ("no_device", "no_readings")


class _LandingWriter:
    """Writes lines to ``<source>-0001.json``, ``-0002``, ... in one landing folder.

    A new file starts before one would exceed ``max_bytes`` or ``max_lines``; the first
    file starts with a UTF-8 byte-order mark (the contract says readers drop it).
    """

    def __init__(self, directory: Path, source: str, max_bytes: int, max_lines: int) -> None:
        self.directory = directory
        self.source = source
        self.paths: list[Path] = []
        self.line_counts: list[int] = []
        self.sizes: list[int] = []
        self._max_bytes = max_bytes
        self._max_lines = max_lines
        self._handle: BinaryIO | None = None

    def write(self, lines: list[str]) -> None:
        """Append lines (without terminators); a line ending in CR gets a CRLF ending."""
        if not lines:
            return
        data = ("\n".join(lines) + "\n").encode()
        if (
            self._handle is not None
            and self.sizes[-1] + len(data) <= self._max_bytes
            and self.line_counts[-1] + len(lines) <= self._max_lines
        ):
            self._put(data, len(lines))
            return
        for line in lines:
            one = (line + "\n").encode()
            if (
                self._handle is None
                or self.sizes[-1] + len(one) > self._max_bytes
                or self.line_counts[-1] >= self._max_lines
            ):
                self._next_file()
            self._put(one, 1)

    def _next_file(self) -> None:
        self.close()
        path = self.directory / f"{self.source}-{len(self.paths) + 1:04d}.json"
        self._handle = path.open("wb", buffering=_WRITE_BUFFER)
        self.paths.append(path)
        self.line_counts.append(0)
        self.sizes.append(0)
        if len(self.paths) == 1:
            self._put(_BOM, 0)

    def _put(self, data: bytes, lines: int) -> None:
        assert self._handle is not None
        self._handle.write(data)
        self.sizes[-1] += len(data)
        self.line_counts[-1] += lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _count(rng: random.Random, base: int, rate: tuple[float, float]) -> int:
    """A seed-dependent share of ``base``, at least one."""
    return max(1, round(base * rng.uniform(*rate)))


def _serial(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _email_variant(rng: random.Random, email: str) -> str:
    """The same identity spelt differently: case, padding spaces or escaped whitespace.

    Returns JSON string content (escapes included), ready to put between quotes.
    """
    return rng.choice(
        (
            email.upper(),
            f"  {email.swapcase()} ",
            f"\\t{email.lower()}",
            f" {email}\\f",
            f"{email.lower()}\\r\\n",
        )
    )


def _fault_roles(
    rng: random.Random, customers: int
) -> tuple[list[str], dict[int, int], list[list[int]], dict[str, int]]:
    """Which customers carry which fault: each customer's role, the pairs sharing reading
    milliseconds (follower to leader), the groups sharing a serial number, and their counts."""
    order = list(range(customers))
    rng.shuffle(order)
    taken = 0

    def take(k: int) -> list[int]:
        nonlocal taken
        taken += k
        return order[taken - k : taken]

    roles = [""] * customers
    pairs: dict[int, int] = {}
    for _ in range(_count(rng, customers, _PAIR_RATE)):
        leader, follower = sorted(take(2))
        pairs[follower] = leader
    shared_groups = [
        take(rng.choice((2, 2, 3))) for _ in range(_count(rng, customers, _SHARED_SERIAL_RATE))
    ]
    for role, rate in _ROLE_RATES.items():
        for index in take(_count(rng, customers, rate)):
            roles[index] = role
    if taken > customers:
        raise ValueError(f"{customers} customers cannot hold every fault role")
    faults = {
        "same_millisecond_customer_pairs": len(pairs),
        "shared_serial_groups": len(shared_groups),
        "shared_serial_customers": sum(map(len, shared_groups)),
    }
    return roles, pairs, shared_groups, faults


def _customer(rng: random.Random, index: int, role: str) -> _Customer:
    """A customer of `role`, with its own dates and consent."""
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    local = f"{first}.{last}{index}".translate(_TO_ASCII)
    registered = _EPOCH_2021 + rng.randrange(730 * _DAY)
    research = None
    if role not in ("never_consent", "grant"):
        research = registered + rng.randrange(30 * _DAY)
    public = research if rng.random() < 0.5 else None
    friends = research if rng.random() < 0.3 else None
    return _Customer(
        name=f"{first} {last}",
        email=f"{local}@{rng.choice(_DOMAINS)}",
        phone=str(rng.randrange(2_000_000_000, 10_000_000_000)),
        birthday=(date(1940, 1, 1) + timedelta(days=rng.randrange(24_000))).isoformat(),
        serial=_serial(rng),
        registered=registered,
        updated=max(registered, research or 0) + rng.randrange(_DAY),
        research=research,
        public=public,
        friends=friends,
        role=role,
    )


def _set_reading_times(rng: random.Random, person: _Customer, drawn_registration: int) -> None:
    """When a customer's later record comes, and when its readings start: from its consent,
    or without one from the registration date drawn for it (before consent for the roles that
    test it)."""
    role = person.role
    anchor = person.research if person.research is not None else drawn_registration
    if role in ("withdraw", "grant", "update"):
        person.later = person.updated + rng.randrange(_DAY, 90 * _DAY)
    if role == "grant":
        person.readings_start = person.later - rng.randrange(_HOUR, 2 * _DAY)
    elif role == "before_consent":
        person.readings_start = anchor - rng.randrange(_HOUR, 3 * _DAY)
    else:
        person.readings_start = anchor + rng.randrange(_HOUR, 60 * _DAY)


def _customers(rng: random.Random, roles: list[str], pairs: dict[int, int]) -> list[_Customer]:
    """Every customer; a pair's follower registered with its leader (same dates, consent)."""
    people: list[_Customer] = []
    for index, role in enumerate(roles):
        person = _customer(rng, index, role)
        drawn_registration = person.registered
        if index in pairs:
            leader = people[pairs[index]]
            person.registered, person.updated = leader.registered, leader.updated
            person.research, person.public, person.friends = (
                leader.research,
                leader.public,
                leader.friends,
            )
        _set_reading_times(rng, person, drawn_registration)
        people.append(person)
    return people


def _consent_before_registering(
    rng: random.Random, people: list[_Customer], pairs: dict[int, int], faults: dict[str, int]
) -> None:
    """Some ordinary customers gave consent before registering (e.g. on a paper form)."""
    paired = set(pairs) | set(pairs.values())
    ordinary = [i for i, c in enumerate(people) if c.role == "" and i not in paired]
    early = rng.sample(ordinary, _count(rng, len(ordinary), (0.03, 0.08)))
    for index in early:
        person = people[index]
        person.research = person.registered - rng.randrange(_HOUR, 30 * _DAY)
        person.readings_start = person.research + rng.randrange(_HOUR, 60 * _DAY)
    faults["consent_before_registration"] = len(early)
    faults["consent_after_registration"] = sum(
        1 for c in people if c.research is not None and c.research >= c.registered
    )


def _mark(rng: random.Random, plan: _Plan, customers: int) -> None:
    """The customers whose lines carry each per-customer extra (a variant, CRLF, ...)."""
    everyone = list(range(customers))
    phone = [i for i in everyone if plan.phone(i)]
    device = [i for i in everyone if plan.device(i)]
    eligible = {
        "customer_email_variant": everyone,
        "customer_optional_absent": everyone,
        "customer_unknown_field": everyone,
        "customer_crlf": everyone,
        "accelerometer_user_variant": phone,
        "accelerometer_duplicate": phone,
        "accelerometer_number_format": phone,
        "accelerometer_unknown_field": phone,
        "accelerometer_crlf": phone,
        "step_trainer_duplicate": device,
        "step_trainer_unknown_field": device,
        "step_trainer_crlf": device,
    }
    for mark, pool in eligible.items():
        plan.marks[mark] = set(rng.sample(pool, _count(rng, len(pool), _CUSTOMER_MARK_RATE)))


def _plan(customers: int, seed: int) -> _Plan:
    rng = random.Random(f"{seed}:customers")
    roles, pairs, shared_groups, faults = _fault_roles(rng, customers)
    people = _customers(rng, roles, pairs)
    for group in shared_groups:
        for index in group[1:]:
            people[index].serial = people[group[0]].serial
    _consent_before_registering(rng, people, pairs, faults)
    plan = _Plan(people, pairs, {}, faults)
    _mark(rng, plan, customers)
    return plan


def _ms(value: int | None) -> str:
    return "null" if value is None else str(value)


def _customer_pairs(
    c: _Customer, email: str, phone: str, updated: int, research: int | None
) -> _JsonPairs:
    """JSON pairs of one customer record; ``email`` is JSON string content."""
    return [
        ("customerName", f'"{c.name}"'),
        ("email", f'"{email}"'),
        ("phone", f'"{phone}"'),
        ("birthDay", f'"{c.birthday}"'),
        ("serialNumber", f'"{c.serial}"'),
        ("registrationDate", str(c.registered)),
        ("lastUpdateDate", str(updated)),
        ("shareWithResearchAsOfDate", _ms(research)),
        ("shareWithPublicAsOfDate", _ms(c.public if research is not None else None)),
        ("shareWithFriendsAsOfDate", _ms(c.friends if research is not None else None)),
    ]


def _join(pairs: _JsonPairs) -> str:
    return "{" + ",".join(f'"{key}":{token}' for key, token in pairs) + "}"


# Required fields of all three sources (no field name is required in one, optional in another).
_REQUIRED = {"email", "serialNumber", "lastUpdateDate", "user", "timestamp", "x", "y", "z"}
_REQUIRED |= {"sensorReadingTime", "distanceFromObject"}

# Malformed-line makers: (rng, valid record pairs, field types) -> a line the contract
# quarantines. Field types: "string", "bigint", "int", "double".
_Maker = Callable[[random.Random, _JsonPairs, dict[str, str]], str]


def _replace(pairs: _JsonPairs, name: str, token: str) -> str:
    return _join([(k, token if k == name else v) for k, v in pairs])


def _pick(rng: random.Random, types: dict[str, str], *kinds: str) -> str:
    return rng.choice([name for name, kind in types.items() if kind in kinds])


def _truncated(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    line = _join(pairs)
    return line[: rng.randrange(1, len(line) - 1)]


def _non_object(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return rng.choice(("[1,2]", '"text"', "42", "null", "true", f"[{_join(pairs)}]"))


def _trailing_garbage(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    line = _join(pairs)
    return line + rng.choice((line, ",", " x", "}"))


def _duplicate_key(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    at = rng.randrange(len(pairs))
    return _join(pairs[: at + 1] + pairs[at:])


def _nan_literal(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    name = _pick(rng, types, "bigint", "int", "double")
    return _replace(pairs, name, rng.choice(("NaN", "Infinity", "-Infinity")))


def _missing_required(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    name = rng.choice([k for k in types if k in _REQUIRED])
    return _join([(k, v) for k, v in pairs if k != name])


def _null_required(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, rng.choice([k for k in types if k in _REQUIRED]), "null")


def _string_for_number(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    name = _pick(rng, types, "bigint", "int", "double")
    return _replace(pairs, name, f'"{dict(pairs)[name]}"')


def _number_for_string(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, _pick(rng, types, "string"), str(rng.randrange(100_000)))


def _fraction_for_integer(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    name = _pick(rng, types, "bigint", "int")
    token = dict(pairs)[name]
    return _replace(pairs, name, rng.choice((f"{token}.5", f"{token}.0", "1e3", "1.5")))


def _boolean_value(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, rng.choice(list(types)), rng.choice(("true", "false")))


def _out_of_range(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    name = _pick(rng, types, "bigint", "int")
    limit = 2**63 if types[name] == "bigint" else 2**31
    return _replace(pairs, name, rng.choice((str(limit), str(-limit - 1))))


def _double_overflow(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, _pick(rng, types, "double"), rng.choice(("1e400", "-1e999")))


def _implausible_time(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    # 1970, 2014 (before STEDI) or 2200: valid integers, impossible times.
    token = rng.choice(("0", "86400000", "1400000000000", "7258118400000"))
    return _replace(pairs, _pick(rng, types, "bigint"), token)


def _implausible_acceleration(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    token = f"{rng.choice((-1, 1)) * rng.uniform(16.5, 500):.3f}"
    return _replace(pairs, _pick(rng, types, "double"), token)


def _negative_distance(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, "distanceFromObject", str(-rng.randrange(1, 500)))


def _blank_email(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return _replace(pairs, "email", rng.choice(('""', '"   "', '"\\t "')))


def _optional_wrong_type(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return rng.choice(
        (
            _replace(pairs, "phone", str(rng.randrange(2_000_000_000, 10_000_000_000))),
            _replace(pairs, "shareWithPublicAsOfDate", '"2022-05-01"'),
            _replace(pairs, "birthDay", "19800101"),
        )
    )


def _blank(rng: random.Random, pairs: _JsonPairs, types: dict[str, str]) -> str:
    return rng.choice(("", "   ", "\t", " \t\f", "\x0b"))


_COMMON_MAKERS: dict[str, _Maker] = {
    "truncated_json": _truncated,
    "non_object_json": _non_object,
    "trailing_garbage": _trailing_garbage,
    "duplicate_key": _duplicate_key,
    "nan_literal": _nan_literal,
    "missing_required": _missing_required,
    "null_required": _null_required,
    "string_for_number": _string_for_number,
    "number_for_string": _number_for_string,
    "fraction_for_integer": _fraction_for_integer,
    "boolean_value": _boolean_value,
    "out_of_range_integer": _out_of_range,
    "implausible_time": _implausible_time,
    "blank_lines": _blank,
}
_MAKERS: dict[str, dict[str, _Maker]] = {
    "customer": {
        **_COMMON_MAKERS,
        "blank_email": _blank_email,
        "optional_wrong_type": _optional_wrong_type,
    },
    "accelerometer": {
        **_COMMON_MAKERS,
        "double_overflow": _double_overflow,
        "implausible_acceleration": _implausible_acceleration,
    },
    "step_trainer": {**_COMMON_MAKERS, "negative_distance": _negative_distance},
}
_TYPES = {
    "customer": {
        "customerName": "string",
        "email": "string",
        "phone": "string",
        "birthDay": "string",
        "serialNumber": "string",
        "registrationDate": "bigint",
        "lastUpdateDate": "bigint",
        "shareWithResearchAsOfDate": "bigint",
        "shareWithPublicAsOfDate": "bigint",
        "shareWithFriendsAsOfDate": "bigint",
    },
    "accelerometer": {
        "user": "string",
        "timestamp": "bigint",
        "x": "double",
        "y": "double",
        "z": "double",
    },
    "step_trainer": {"sensorReadingTime": "bigint", "serialNumber": "string",
                     "distanceFromObject": "int"},
}  # fmt: skip


def _malformed_lines(
    rng: random.Random,
    source: str,
    expected_lines: int,
    sample: Callable[[], _JsonPairs],
    faults: dict[str, int],
) -> list[str]:
    """Malformed (and blank) lines of every kind for ``source``, each kind a few per mille."""
    lines = []
    for kind, maker in _MAKERS[source].items():
        k = _count(rng, expected_lines, _MALFORMED_RATE)
        lines += [maker(rng, sample(), _TYPES[source]) for _ in range(k)]
        faults[f"{source}.{kind}"] = k
    return lines


def _records_of(
    rng: random.Random, marks: dict[str, set[int]], index: int, c: _Customer
) -> list[str]:
    """A customer's record, with the extras the plan marks it for, and its later record."""
    email = c.email
    if index in marks["customer_email_variant"]:
        email = _email_variant(rng, c.email)
    pairs = _customer_pairs(c, email, c.phone, c.updated, c.research)
    if index in marks["customer_optional_absent"]:
        pairs = [(k, v) for k, v in pairs if k not in ("phone", "shareWithFriendsAsOfDate")]
    if index in marks["customer_unknown_field"]:
        pairs.append(("loyaltyTier", '{"level":"gold","since":[2021,3]}'))
    lines = [_join(pairs) + ("\r" if index in marks["customer_crlf"] else "")]
    later_email = _email_variant(rng, c.email)
    new_phone = str(rng.randrange(2_000_000_000, 10_000_000_000))
    later = {
        "withdraw": (c.phone, c.later, None),
        "grant": (c.phone, c.later, c.later),
        "update": (new_phone, c.later, c.research),
        "tie": (new_phone, c.updated, c.research),
    }.get(c.role)
    if later is not None:
        lines.append(_join(_customer_pairs(c, later_email, *later)))
    return lines


def _count_customer_faults(plan: _Plan) -> None:
    marks, faults = plan.marks, plan.faults
    for role, fault in (
        ("withdraw", "consent_withdrawn"),
        ("grant", "consent_granted"),
        ("update", "profile_updated"),
        ("tie", "last_update_tie"),
        ("never_consent", "never_consented"),
    ):
        faults[fault] = sum(1 for c in plan.customers if c.role == role)
    for mark in ("email_variant", "optional_absent", "unknown_field", "crlf"):
        faults[f"customer.{mark}"] = len(marks[f"customer_{mark}"])
    faults["customer.email_variant"] += faults["consent_withdrawn"] + faults["consent_granted"]
    faults["customer.email_variant"] += faults["profile_updated"] + faults["last_update_tie"]


def _customer_lines(plan: _Plan, rng: random.Random) -> list[str]:
    """Every customer landing line (records, later records, malformed), shuffled."""
    lines = [
        line
        for index, c in enumerate(plan.customers)
        for line in _records_of(rng, plan.marks, index, c)
    ]
    _count_customer_faults(plan)

    def sample() -> _JsonPairs:
        c = rng.choice(plan.customers)
        return _customer_pairs(c, c.email, c.phone, c.updated + _DAY, c.research)

    lines += _malformed_lines(rng, "customer", len(lines), sample, plan.faults)
    rng.shuffle(lines)
    return lines


def _xyz_pool(rng: random.Random) -> list[str]:
    """Distinct ``,"x":..,"y":..,"z":..}`` line endings (three decimals, |v| <= 2)."""

    def v() -> str:
        return f"{rng.randrange(-2000, 2001) / 1000:.3f}"

    return list(dict.fromkeys(f',"x":{v()},"y":{v()},"z":{v()}}}' for _ in range(8192)))


class _Readings:
    """The reading lines of a plan, drawn from one seeded generator in a fixed order: the
    malformed lines, unknown users and unknown devices first (spread between customers), then
    each customer's phone and device readings."""

    def __init__(self, plan: _Plan, seed: int, readings_per_customer: int) -> None:
        self.plan, self.faults, self.marks = plan, plan.faults, plan.marks
        self.rng = rng = random.Random(f"{seed}:readings")
        self.n = len(plan.customers)
        self.per_customer = readings_per_customer
        self.xyz_pool = _xyz_pool(rng)
        self.gap_pool = [rng.randrange(200, 20 * _SECOND) for _ in range(3600)]
        self.gap_pool += [rng.randrange(_HOUR, 3 * _DAY) for _ in range(400)]
        self.distance_pool = [str(rng.randrange(150, 300)) for _ in range(512)]
        self.extra_acc: dict[int, list[str]] = {}
        self.extra_step: dict[int, list[str]] = {}

    def timeline(self, start: int) -> list[int]:
        spread = self.per_customer // 4
        count = self.per_customer + self.rng.randrange(-spread, spread + 1)
        return list(accumulate(self.rng.choices(self.gap_pool, k=count - 1), initial=start))

    def reading(self, user: str, t: int) -> _JsonPairs:
        x, y, z = (f"{self.rng.randrange(-2000, 2001) / 1000:.3f}" for _ in range(3))
        return [("user", f'"{user}"'), ("timestamp", str(t)), ("x", x), ("y", y), ("z", z)]

    def step_reading(self, serial: str, t: int) -> _JsonPairs:
        distance = self.rng.choice(self.distance_pool)
        return [("sensorReadingTime", str(t)), ("serialNumber", f'"{serial}"'),
                ("distanceFromObject", distance)]  # fmt: skip

    def some_customer(self) -> _Customer:
        return self.plan.customers[self.rng.randrange(self.n)]

    def start_time(self) -> int:
        return _EPOCH_2021 + self.rng.randrange(760 * _DAY)

    def spread(self, extra: dict[int, list[str]], lines: list[str]) -> None:
        extra.setdefault(self.rng.randrange(self.n), []).extend(lines)

    def malformed(self) -> None:
        n, rng = self.n, self.rng
        for source, extra, expected, sample in (
            ("accelerometer", self.extra_acc, n * self.per_customer,
             lambda: self.reading(self.some_customer().email, self.start_time())),
            ("step_trainer", self.extra_step, n * self.per_customer // 3,
             lambda: self.step_reading(self.some_customer().serial, self.start_time())),
        ):  # fmt: skip
            for line in _malformed_lines(rng, source, expected, sample, self.faults):
                extra.setdefault(rng.randrange(n), []).append(line)

    def unknown_users(self) -> None:
        rng, ghosts = self.rng, _count(self.rng, self.n, _GHOST_RATE)
        for g in range(ghosts):
            user = f"{rng.choice(_FIRST_NAMES)}.Guest{g}@{_GHOST_DOMAIN}".translate(_TO_ASCII)
            prefix = f'{{"user":"{user}","timestamp":'
            ts = self.timeline(self.start_time())
            xyz = rng.choices(self.xyz_pool, k=len(ts))
            self.spread(self.extra_acc, [f"{prefix}{t}{e}" for t, e in zip(ts, xyz, strict=True)])
        self.faults["unknown_users"] = ghosts

    def unknown_devices(self) -> None:
        rng, devices = self.rng, _count(self.rng, self.n, _GHOST_RATE)
        for _ in range(devices):
            middle = f',"serialNumber":"{_serial(rng)}","distanceFromObject":'
            ts = self.timeline(self.start_time())[::3]
            distances = rng.choices(self.distance_pool, k=len(ts))
            block = [
                f'{{"sensorReadingTime":{t}{middle}{d}}}'
                for t, d in zip(ts, distances, strict=True)
            ]
            self.spread(self.extra_step, block)
        self.faults["unknown_devices"] = devices

    def blocks(self) -> Iterator[tuple[list[str], list[str]]]:
        """(accelerometer lines, step-trainer lines) per customer, with the extras spread."""
        self.malformed()
        self.unknown_users()
        self.unknown_devices()
        for name in ("user_variant", "duplicate", "number_format", "unknown_field", "crlf"):
            self.faults[f"accelerometer.{name}"] = 0  # lines, counted as they are written
        for name in ("duplicate", "unknown_field", "crlf"):
            self.faults[f"step_trainer.{name}"] = 0
        leader_times: dict[int, list[int]] = {}
        leaders = set(self.plan.pairs.values())
        for index, c in enumerate(self.plan.customers):
            ts, shared = self.times(index, c, leader_times, leaders)
            if index in leaders:
                leader_times[index] = ts
            xyz = self.rng.choices(self.xyz_pool, k=len(ts))
            forced = set(shared)  # step readings also at the shared milliseconds ...
            if c.role in ("before_consent", "grant"):
                forced.add(ts[0])  # ... and before consent
            acc = self.phone_lines(index, c, ts, xyz, forced) if self.plan.phone(index) else []
            step = self.device_lines(index, c, ts, forced) if self.plan.device(index) else []
            yield acc + self.extra_acc.get(index, []), step + self.extra_step.get(index, [])
        self.count_roles()

    def times(
        self, index: int, c: _Customer, leader_times: dict[int, list[int]], leaders: set[int]
    ) -> tuple[list[int], list[int]]:
        """A customer's reading times, and those it shares with its pair's leader."""
        if index in self.plan.pairs:
            shared = leader_times.pop(self.plan.pairs[index])
            shared = shared[: self.rng.randrange(2, 6)]
            return shared + self.timeline(
                shared[-1] + self.rng.randrange(200, 20 * _SECOND)
            ), shared
        ts = self.timeline(c.readings_start)
        return ts, (ts[:5] if index in leaders else [])

    def phone_lines(
        self, index: int, c: _Customer, ts: list[int], xyz: list[str], forced: set[int]
    ) -> list[str]:
        """A customer's phone readings, with the faults the plan marks them for."""
        rng, marks, faults = self.rng, self.marks, self.faults
        prefix = f'{{"user":"{c.email}","timestamp":'
        acc = [f"{prefix}{t}{e}" for t, e in zip(ts, xyz, strict=True)]
        if index in marks["accelerometer_number_format"]:
            k = rng.randrange(len(ts))
            acc[k] = f'{prefix}{ts[k]},"x":1,"y":-2.5E-1,"z":0}}'
            faults["accelerometer.number_format"] += 1
        if index in marks["accelerometer_user_variant"]:
            variant = f'{{"user":"{_email_variant(rng, c.email)}","timestamp":'
            acc = [f"{variant}{line[len(prefix) :]}" if k % 2 else line
                   for k, line in enumerate(acc)]  # fmt: skip
            faults["accelerometer.user_variant"] += len(acc) // 2
        if c.role == "multi_ms":
            k = rng.randrange(len(ts))
            others = [e for e in rng.sample(self.xyz_pool, 4) if e != xyz[k]][:2]
            acc[k + 1 : k + 1] = [f"{prefix}{ts[k]}{e}" for e in others]
            forced.add(ts[k])
        if index in marks["accelerometer_duplicate"]:
            line = rng.choice(acc)
            rest = line[line.index('","timestamp":') :]
            acc += [line, f'{{"user":"{_email_variant(rng, c.email)}{rest}']
            faults["accelerometer.duplicate"] += 2
        if index in marks["accelerometer_unknown_field"]:
            k = rng.randrange(len(acc))
            acc[k] = '{"deviceModel":"Pixel 7",' + acc[k][1:]
            faults["accelerometer.unknown_field"] += 1
        if index in marks["accelerometer_crlf"]:
            acc[-1] += "\r"
            faults["accelerometer.crlf"] += 1
        return acc

    def device_lines(self, index: int, c: _Customer, ts: list[int], forced: set[int]) -> list[str]:
        """A customer's device readings (about a third of the times, and every `forced` one),
        with the faults the plan marks them for."""
        rng, marks, faults = self.rng, self.marks, self.faults
        middle = f',"serialNumber":"{c.serial}","distanceFromObject":'
        times = [t for t in ts if (forced and t in forced) or rng.random() < 1 / 3]
        distances = rng.choices(self.distance_pool, k=len(times))
        step = [
            f'{{"sensorReadingTime":{t}{middle}{d}}}' for t, d in zip(times, distances, strict=True)
        ]
        if step and index in marks["step_trainer_duplicate"]:
            step.append(rng.choice(step))
            faults["step_trainer.duplicate"] += 1
        if step and index in marks["step_trainer_unknown_field"]:
            step[0] = '{"firmware":"1.4.2",' + step[0][1:]
            faults["step_trainer.unknown_field"] += 1
        if step and index in marks["step_trainer_crlf"]:
            step[-1] += "\r"
            faults["step_trainer.crlf"] += 1
        return step

    def count_roles(self) -> None:
        for role, fault in (
            ("before_consent", "readings_before_consent_customers"),
            ("multi_ms", "same_millisecond_multi_readings"),
            ("device_only", "device_without_phone_readings"),
            ("no_readings", "customers_without_readings"),
            ("no_device", "customers_without_device_readings"),
        ):
            self.faults[fault] = sum(1 for c in self.plan.customers if c.role == role)


def _clear_landing(directory: Path, source: str) -> None:
    """Remove what an earlier run wrote here, so stale files never mix with new ones."""
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in (f"{source}-*.json", f".{source}-*", "_SUCCESS"):
        for path in directory.glob(pattern):
            path.unlink()


def _finish(writer: _LandingWriter, rng: random.Random, faults: dict[str, int]) -> SourceSummary:
    """Close the writer, add a redelivered copy and hidden files, and summarise."""
    writer.close()
    copied = rng.randrange(len(writer.paths))
    original = writer.paths[copied]
    copy = original.with_name(f"{original.stem}-redelivered.json")
    shutil.copyfile(original, copy)
    source = writer.source
    (writer.directory / "_SUCCESS").write_bytes(b"")
    with original.open("rb") as handle:  # an upload in progress: readers must skip it
        (writer.directory / f".{original.name}.partial").write_bytes(handle.readline())
    faults[f"{source}.redelivered_files"] = 1
    faults[f"{source}.hidden_files"] = 2
    faults[f"{source}.bom_files"] = 1 + (copied == 0)
    return SourceSummary(
        files=len(writer.paths) + 1,
        lines=sum(writer.line_counts) + writer.line_counts[copied],
        bytes=sum(writer.sizes) + writer.sizes[copied],
    )


def write_sample_landing(
    out: Path,
    customers: int,
    seed: int,
    readings_per_customer: int = 85,
    max_file_bytes: int = 64 * 2**20,
    files_per_source: int = 4,
) -> SampleSummary:
    """Write customer, accelerometer and step-trainer landing files under lake root ``out``.

    Files go to ``out/<source>/landing/<source>-NNNN.json`` (earlier generated files there
    are replaced): each source's lines are spread over ``files_per_source`` files, or more
    where a file would exceed ``max_file_bytes``. The same arguments always give
    byte-identical files.
    """
    if customers < MIN_CUSTOMERS:
        raise ValueError(f"customers must be at least {MIN_CUSTOMERS} to hold every fault")
    if readings_per_customer < MIN_READINGS_PER_CUSTOMER:
        raise ValueError(f"readings_per_customer must be at least {MIN_READINGS_PER_CUSTOMER}")
    if max_file_bytes < MIN_FILE_BYTES:
        raise ValueError(f"max_file_bytes must be at least {MIN_FILE_BYTES}")
    if files_per_source < 1:
        raise ValueError("files_per_source must be at least 1")
    plan = _plan(customers, seed)
    customer_lines = _customer_lines(plan, random.Random(f"{seed}:customer-lines"))
    expected_lines = {
        "customer": len(customer_lines),
        "accelerometer": customers * readings_per_customer,
        "step_trainer": customers * readings_per_customer // 3,
    }
    writers = {}
    for source, lines in expected_lines.items():
        directory = out / source / "landing"
        _clear_landing(directory, source)
        max_lines = math.ceil(lines / files_per_source)
        writers[source] = _LandingWriter(directory, source, max_file_bytes, max_lines)
    for start in range(0, len(customer_lines), 10_000):
        writers["customer"].write(customer_lines[start : start + 10_000])
    for acc, step in _Readings(plan, seed, readings_per_customer).blocks():
        writers["accelerometer"].write(acc)
        writers["step_trainer"].write(step)
    rng = random.Random(f"{seed}:files")
    summaries = {source: _finish(writer, rng, plan.faults) for source, writer in writers.items()}
    return SampleSummary(**summaries, faults=dict(sorted(plan.faults.items())))


def format_summary(summary: SampleSummary, out: Path | str) -> str:
    """What `stedi sample-data` prints: files, lines and bytes per source, and the faults."""
    lines = [f"STEDI sample landing data in {out}:"]
    for source in SOURCES:
        s: SourceSummary = getattr(summary, source)
        lines.append(f"  {source:<14} {s.files:>5} files {s.lines:>13,} lines {s.bytes:>16,} bytes")
    lines.append("Faults injected:")
    lines += [f"  {name:<42} {count:>10,}" for name, count in summary.faults.items()]
    return "\n".join(lines)
