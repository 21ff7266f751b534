"""Rule-by-rule tests of the pure-Python reference contract on tiny hand-made landing folders."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from stedi_assets_tests import reference_contract
from stedi_assets_tests.reference_contract import normalise_email

# These hand-made lakes count time from 0: every time is plausible from the epoch on.
compute_expected = functools.partial(reference_contract.compute_expected, earliest_time_ms=0)


def write(root: Path, source: str, name: str, *lines: str, raw: bytes | None = None) -> None:
    """Write one landing file: the lines joined by LF with a final LF, or exactly ``raw``."""
    directory = root / source / "landing"
    directory.mkdir(parents=True, exist_ok=True)
    data = raw if raw is not None else ("\n".join(lines) + "\n").encode()
    (directory / name).write_bytes(data)


def customer(
    email: str = "ann@x.com",
    *,
    serial: str = "S-ANN",
    updated: int = 100,
    research: int | None = 1_000,
    **other: object,
) -> str:
    record = {
        "customerName": "Ann",
        "email": email,
        "phone": "555",
        "birthDay": "1990-01-01",
        "serialNumber": serial,
        "registrationDate": 10,
        "lastUpdateDate": updated,
        "shareWithResearchAsOfDate": research,
        "shareWithPublicAsOfDate": None,
        "shareWithFriendsAsOfDate": None,
    }
    record.update(other)
    return json.dumps(record)


def reading(user: str, timestamp: int, x: float = 0.5, y: float = -0.5, z: float = 1.0) -> str:
    return json.dumps({"user": user, "timestamp": timestamp, "x": x, "y": y, "z": z})


def step(time: int, serial: str = "S-ANN", distance: int = 200) -> str:
    return json.dumps(
        {"sensorReadingTime": time, "serialNumber": serial, "distanceFromObject": distance}
    )


def ann_row(email: str = "ann@x.com", **changes: object) -> tuple[object, ...]:
    row = {
        "customerName": "Ann",
        "email": email,
        "phone": "555",
        "birthDay": "1990-01-01",
        "serialNumber": "S-ANN",
        "registrationDate": 10,
        "lastUpdateDate": 100,
        "shareWithResearchAsOfDate": 1_000,
        "shareWithPublicAsOfDate": None,
        "shareWithFriendsAsOfDate": None,
    }
    row.update(changes)
    return tuple(row.values())


# --- Lines -------------------------------------------------------------------------------


def test_crlf_bom_blank_lines_and_line_numbers(tmp_path: Path) -> None:
    text = "\ufeff" + "\r\n".join(
        [customer(), "", "  \t", "\x0b\f", "{broken", customer("bob@x.com", serial="S-BOB")]
    )
    write(tmp_path, "customer", "a.json", raw=(text + "\r\n").encode())
    write(tmp_path, "customer", "b.json", raw=b"\n\r\n[1,2]")  # no final newline

    expected = compute_expected(tmp_path)

    assert expected.accounting["customer_trusted"] == {
        "lines_read": 4,
        "kept": 2,
        "quarantined": 2,
        "superseded": 0,
        "no_consent": 0,
        "erased": 0,
        "blank_lines": 5,
    }
    assert expected.quarantined["customer"] == [("a.json", 5), ("b.json", 3)]
    assert [q.line for q in expected.quarantine_details["customer"]] == ["{broken", "[1,2]"]
    assert len(expected.customer_trusted) == 2  # the BOM did not spoil line 1


def test_only_one_trailing_cr_is_removed_and_bom_only_at_file_start(tmp_path: Path) -> None:
    write(tmp_path, "accelerometer", "a.json", reading("a@x.com", 1) + "\r\r", "\ufeff[]")

    expected = compute_expected(tmp_path)

    details = expected.quarantine_details["accelerometer"]
    assert [(q.line_number, q.line) for q in details] == [(2, "\ufeff[]")]
    assert expected.accounting["accelerometer_trusted"]["lines_read"] == 2


def test_empty_file_and_final_newline_are_not_lines(tmp_path: Path) -> None:
    write(tmp_path, "step_trainer", "empty.json", raw=b"")
    write(tmp_path, "step_trainer", "bom-only.json", raw="\ufeff".encode())
    write(tmp_path, "step_trainer", "one.json", raw=(step(1) + "\n").encode())
    write(tmp_path, "step_trainer", "blank.json", raw=b"\n")

    counts = compute_expected(tmp_path).accounting["step_trainer_trusted"]

    assert (counts["lines_read"], counts["blank_lines"]) == (1, 1)


def test_hidden_files_and_subfolders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "customer", "c.json", customer())
    for name in (".c.json.partial", "_SUCCESS", "_temporary.json"):
        write(tmp_path, "customer", name, customer("eve@x.com", serial="S-EVE"), "{bad")
    nested = tmp_path / "customer" / "landing" / "old"
    nested.mkdir()
    (nested / "c.json").write_text(customer("dan@x.com") + "\n")

    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == [ann_row()]
    assert expected.accounting["customer_trusted"]["lines_read"] == 1


def test_missing_landing_folders_are_empty(tmp_path: Path) -> None:
    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == expected.machine_learning_curated == []
    assert expected.accounting["step_trainer_trusted"]["lines_read"] == 0


def test_invalid_policy_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="policy"):
        compute_expected(tmp_path, "sometimes")


# --- Parsing and quarantine (rule 1) -----------------------------------------------------

GOOD_READING = '"user":"a@x.com","timestamp":5,"x":0.5,"y":1,"z":-2'
GOOD_STEP = '"sensorReadingTime":5,"serialNumber":"S-ANN","distanceFromObject":9'
QUARANTINED = [
    ("customer", customer()[:-3]),  # truncated
    ("customer", "[1,2]"),
    ("customer", '"text"'),
    ("customer", "null"),
    ("customer", customer() + " x"),
    ("customer", customer() + customer()),
    ("customer", customer()[:-1] + ',"email":"ann@x.com"}'),  # duplicate key
    ("customer", customer().replace('"lastUpdateDate": 100', '"lastUpdateDate": NaN')),
    ("customer", json.dumps({"email": "a@x.com", "serialNumber": "S"})),  # no lastUpdateDate
    ("customer", customer(email=None)),
    ("customer", customer(serialNumber=None)),
    ("customer", customer(lastUpdateDate="100")),
    ("customer", customer(phone=555)),
    ("customer", customer(customerName=["Ann"])),
    ("customer", customer(lastUpdateDate=100.0)),
    ("customer", customer().replace('"lastUpdateDate": 100', '"lastUpdateDate": 1e3')),
    ("customer", customer(registrationDate=1.5)),
    ("customer", customer(shareWithPublicAsOfDate=True)),
    ("customer", customer(lastUpdateDate=2**63)),
    ("customer", customer(registrationDate=-(2**63) - 1)),
    ("customer", customer(email=True)),
    ("customer", customer(email="")),
    ("customer", customer(email=" \t\x0b\f\r\n ")),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":"0.5"') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":1e400') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":-Infinity') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":true') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', f'"x":{10**400}') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"user":"a@x.com"', '"user":7') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"user":"a@x.com"', '"user":null') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace(',"z":-2', "") + "}"),
    ("accelerometer", "{" + GOOD_READING.replace(":5", f":{-(2**63) - 1}") + "}"),
    ("accelerometer", "{" + GOOD_READING.replace(":5", ":5.5") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", f":{2**31}") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", f":{-(2**31) - 1}") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":9.0") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":9e0") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":false") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":5", ':"5"') + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace('"S-ANN"', "12") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace('"S-ANN"', "null") + "}"),
    ("step_trainer", "{" + GOOD_STEP + ',"extra":{"a":1,"a":2}}'),  # duplicate nested key
    ("step_trainer", "\x0b{" + GOOD_STEP + "}"),  # VT is not JSON whitespace
    # Values in their type's range that cannot be real (rule 1b).
    ("customer", customer(lastUpdateDate=-(2**63), registrationDate=2**63 - 1)),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', f'"x":{2**80}') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":-16.001') + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", f":{2**31 - 1}") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":-1") + "}"),
]


@pytest.mark.parametrize(("source", "line"), QUARANTINED)
def test_bad_lines_are_quarantined(tmp_path: Path, source: str, line: str) -> None:
    write(tmp_path, source, "f.json", "", line)

    expected = compute_expected(tmp_path)

    assert expected.quarantined[source] == [("f.json", 2)]
    assert expected.quarantine_details[source][0].line == line
    assert expected.quarantine_details[source][0].reasons


ACCEPTED = [
    ("customer", json.dumps({"email": "a@x.com", "serialNumber": "", "lastUpdateDate": 1})),
    ("customer", customer(registrationDate=None, phone=None, loyalty={"tier": [1, 2]})),
    ("customer", customer(email="\u00a0")),  # NBSP is not ASCII whitespace: not blank
    ("accelerometer", "  {" + GOOD_READING + "}\t"),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5', '"x":-1E-3') + ',"extra":null}'),
    ("accelerometer", "{" + GOOD_READING.replace('"x":0.5,"y":1', '"x":-16,"y":16.0') + "}"),
    ("accelerometer", "{" + GOOD_READING.replace('"a@x.com"', '"  "') + "}"),  # blank user
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":10000") + "}"),
    ("step_trainer", "{" + GOOD_STEP.replace(":9", ":-0") + "}"),
]


@pytest.mark.parametrize(("source", "line"), ACCEPTED)
def test_valid_lines_are_not_quarantined(tmp_path: Path, source: str, line: str) -> None:
    write(tmp_path, source, "f.json", line)

    expected = compute_expected(tmp_path)

    assert expected.quarantined[source] == []
    assert expected.accounting[f"{source}_trusted"]["lines_read"] == 1


def test_all_reasons_of_a_line_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "customer", "f.json", customer(email=5, lastUpdateDate="x", phone=None))

    (line,) = compute_expected(tmp_path).quarantine_details["customer"]

    assert len(line.reasons) == 2
    assert {reason.split(":")[0] for reason in line.reasons} == {"email", "lastUpdateDate"}


# --- Identity and customer_trusted (rules 2 and 3) ---------------------------------------


def test_email_normalisation_trims_ascii_whitespace_and_lowercases() -> None:
    assert normalise_email(" \t\x0bAnn.Lee@X.COM\f\r\n") == "ann.lee@x.com"
    assert normalise_email("\u00a0ann@x.com") == "\u00a0ann@x.com"


def test_current_record_has_greatest_last_update_date(tmp_path: Path) -> None:
    write(tmp_path, "customer", "b.json", customer(updated=300, phone="new"))
    write(tmp_path, "customer", "a.json", customer(updated=200, phone="mid"), customer())

    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == [ann_row(lastUpdateDate=300, phone="new")]
    assert expected.accounting["customer_trusted"]["superseded"] == 2


@pytest.mark.parametrize("order", [("a.json", "b.json"), ("b.json", "a.json")])
def test_last_update_ties_go_to_the_greatest_raw_line(tmp_path: Path, order: tuple) -> None:
    low, high = customer(phone="111"), customer(phone="999")
    assert low < high
    write(tmp_path, "customer", order[0], high)
    write(tmp_path, "customer", order[1], low, high)  # identical lines are interchangeable

    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == [ann_row(phone="999")]
    assert expected.accounting["customer_trusted"]["superseded"] == 2


def test_tie_break_compares_raw_text_not_parsed_values(tmp_path: Path) -> None:
    spaced = customer(research=None).replace('"phone": "555"', '"phone":"555"')
    compact = customer(research=1_000)
    assert spaced > compact  # first difference: '"' > ' ' after "phone":
    write(tmp_path, "customer", "f.json", compact, spaced)

    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == []
    assert expected.accounting["customer_trusted"]["no_consent"] == 1


def test_consent_withdrawal_and_grant(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "f.json",
        customer("ann@x.com", updated=100, research=50),
        customer("ANN@x.com ", updated=200, research=None),  # withdraws
        customer("bob@x.com", serial="S-BOB", updated=100, research=None),
        customer(" Bob@X.com", serial="S-BOB", updated=150, research=120),  # grants
    )
    write(tmp_path, "accelerometer", "f.json", reading("ann@x.com", 500), reading("bob@x.com", 500))

    expected = compute_expected(tmp_path)

    assert [row[1] for row in expected.customer_trusted] == ["bob@x.com"]
    assert expected.customer_trusted[0][6:8] == (150, 120)
    assert expected.accounting["customer_trusted"] == {
        "lines_read": 4,
        "kept": 1,
        "quarantined": 0,
        "superseded": 2,
        "no_consent": 1,
        "erased": 0,
        "blank_lines": 0,
    }
    assert expected.accelerometer_trusted == [("bob@x.com", 500, 0.5, -0.5, 1.0)]


def test_trusted_tables_store_normalised_emails(tmp_path: Path) -> None:
    write(tmp_path, "customer", "f.json", customer("\tAnn@X.com  "))
    write(tmp_path, "accelerometer", "f.json", reading(" ANN@x.COM\r\n", 2_000))
    write(tmp_path, "accelerometer", "g.json", reading("\u00a0ann@x.com", 2_001))

    expected = compute_expected(tmp_path)

    assert expected.customer_trusted == [ann_row()]
    assert expected.customers_curated == [ann_row()]
    assert expected.accelerometer_trusted == [("ann@x.com", 2_000, 0.5, -0.5, 1.0)]
    assert expected.accounting["accelerometer_trusted"]["no_consent"] == 1


# --- accelerometer_trusted and customers_curated (rules 4 to 6) ---------------------------


def test_duplicate_readings_collapse_but_same_millisecond_readings_stay(tmp_path: Path) -> None:
    write(tmp_path, "customer", "c.json", customer())
    original = reading("ann@x.com", 2_000, x=1.0)
    write(
        tmp_path,
        "accelerometer",
        "a.json",
        original,
        original.replace('"x": 1.0', '"x": 1'),  # same double: a duplicate
        reading("Ann@x.com ", 2_000, x=1.0),  # same after normalising: a duplicate
        reading("ann@x.com", 2_000, x=2.0),  # same millisecond, other values: kept
    )
    write(tmp_path, "accelerometer", "a-redelivered.json", original)

    expected = compute_expected(tmp_path)

    assert expected.accelerometer_trusted == [
        ("ann@x.com", 2_000, 1.0, -0.5, 1.0),
        ("ann@x.com", 2_000, 2.0, -0.5, 1.0),
    ]
    counts = expected.accounting["accelerometer_trusted"]
    assert (counts["lines_read"], counts["kept"], counts["duplicate"]) == (5, 2, 3)


def test_readings_need_consent_and_policy_decides_early_ones(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer(research=1_000),
        customer("nat@x.com", serial="S-NAT", research=None),
    )
    write(
        tmp_path,
        "accelerometer",
        "a.json",
        reading("ann@x.com", 999),
        reading("ann@x.com", 1_000),  # at the consent millisecond: kept
        reading("nat@x.com", 5_000),
        reading("ghost@x.com", 5_000),
    )

    since = compute_expected(tmp_path)
    any_time = compute_expected(tmp_path, "any_time")

    assert [row[1] for row in since.accelerometer_trusted] == [1_000]
    assert [row[1] for row in any_time.accelerometer_trusted] == [999, 1_000]
    assert since.accounting["accelerometer_trusted"] == {
        "lines_read": 4,
        "kept": 1,
        "quarantined": 0,
        "duplicate": 0,
        "no_consent": 2,
        "before_consent": 1,
        "erased": 0,
        "blank_lines": 0,
    }
    assert any_time.accounting["accelerometer_trusted"]["before_consent"] == 0


def test_customers_curated_needs_a_trusted_reading(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer(research=1_000),
        customer("bob@x.com", serial="S-BOB", research=1_000),
        customer("cy@x.com", serial="S-CY", research=1_000),
    )
    write(
        tmp_path, "accelerometer", "a.json", reading("ann@x.com", 1_500), reading("bob@x.com", 10)
    )

    since = compute_expected(tmp_path)
    any_time = compute_expected(tmp_path, "any_time")

    assert [row[1] for row in since.customers_curated] == ["ann@x.com"]
    assert [row[1] for row in any_time.customers_curated] == ["ann@x.com", "bob@x.com"]
    assert len(since.customer_trusted) == 3


# --- step_trainer_trusted (rule 7) -------------------------------------------------------


def test_step_readings_attribution(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer("ann@x.com", serial="S-ANN"),
        customer("bob@x.com", serial="S-SHARED"),
        customer("cy@x.com", serial="S-SHARED", research=None),  # non-consenting still counts
        customer("dan@x.com", serial="S-OLD", updated=100),
        customer("dan@x.com", serial="S-DAN", updated=200),  # moved to a new device
        customer("eve@x.com", serial="S-EVE"),  # consents, but no readings on the phone
        customer("fay@x.com", serial="S-FAY", research=None),
    )
    write(
        tmp_path,
        "accelerometer",
        "a.json",
        *(reading(user, 2_000) for user in ("ann@x.com", "bob@x.com", "dan@x.com", "fay@x.com")),
    )
    write(
        tmp_path,
        "step_trainer",
        "s.json",
        step(2_000, "S-ANN"),
        step(2_000, "S-ANN"),  # duplicate
        step(2_000, "S-ANN", 201),  # same millisecond, other distance: distinct
        step(999, "S-ANN"),  # before consent
        step(2_000, "S-SHARED"),  # withheld
        step(2_000, "S-OLD"),  # serial only on a superseded record
        step(2_000, "S-DAN"),
        step(2_000, "S-EVE"),  # owner not curated
        step(2_000, "S-FAY"),  # owner does not consent
        step(2_000, "S-NOBODY"),
    )

    since = compute_expected(tmp_path)
    any_time = compute_expected(tmp_path, "any_time")

    assert since.step_trainer_trusted == [
        (2_000, "S-ANN", 200),
        (2_000, "S-ANN", 201),
        (2_000, "S-DAN", 200),
    ]
    assert since.accounting["step_trainer_trusted"] == {
        "lines_read": 10,
        "kept": 3,
        "quarantined": 0,
        "duplicate": 1,
        "withheld": 1,
        "no_consent": 4,
        "before_consent": 1,
        "erased": 0,
        "blank_lines": 0,
    }
    assert (999, "S-ANN", 200) in any_time.step_trainer_trusted
    assert any_time.accounting["step_trainer_trusted"]["before_consent"] == 0


def test_shared_serial_is_withheld_even_when_only_one_sharer_consents(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer("ann@x.com", serial="S-1"),
        customer("bob@x.com", serial="S-1", research=None),
        customer("Ann@x.com", serial="S-1", updated=50),  # same email: not a second carrier
    )
    write(tmp_path, "accelerometer", "a.json", reading("ann@x.com", 2_000))
    write(tmp_path, "step_trainer", "s.json", step(2_000, "S-1"))

    counts = compute_expected(tmp_path).accounting["step_trainer_trusted"]

    assert (counts["kept"], counts["withheld"]) == (0, 1)


# --- machine_learning_curated (rule 8) ---------------------------------------------------


def test_ml_join_pairs_each_step_reading_with_its_owners_readings_only(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer("ann@x.com", serial="S-ANN"),
        customer("bob@x.com", serial="S-BOB"),
    )
    write(
        tmp_path,
        "accelerometer",
        "a.json",
        reading("ann@x.com", 2_000, x=1.0),
        reading("ann@x.com", 2_000, x=2.0),  # two readings of Ann in one millisecond
        reading("bob@x.com", 2_000, x=3.0),  # Bob at the same millisecond
        reading("bob@x.com", 3_000, x=4.0),
    )
    write(
        tmp_path,
        "step_trainer",
        "s.json",
        step(2_000, "S-ANN", 10),
        step(2_000, "S-BOB", 20),
        step(2_500, "S-BOB", 30),  # no reading at that millisecond: no row
    )

    expected = compute_expected(tmp_path)

    assert expected.machine_learning_curated == [
        (2_000, "S-ANN", 10, 1.0, -0.5, 1.0),
        (2_000, "S-ANN", 10, 2.0, -0.5, 1.0),
        (2_000, "S-BOB", 20, 3.0, -0.5, 1.0),
    ]
    assert len(expected.step_trainer_trusted) == 3


def test_ml_join_uses_only_trusted_rows(tmp_path: Path) -> None:
    write(tmp_path, "customer", "c.json", customer(research=2_000))
    write(
        tmp_path,
        "accelerometer",
        "a.json",
        reading("ann@x.com", 1_000),
        reading("ann@x.com", 3_000),
    )
    write(tmp_path, "step_trainer", "s.json", step(1_000), step(3_000))

    since = compute_expected(tmp_path)
    any_time = compute_expected(tmp_path, "any_time")

    assert [row[0] for row in since.machine_learning_curated] == [3_000]
    assert [row[0] for row in any_time.machine_learning_curated] == [1_000, 3_000]


def test_rows_sort_with_nulls_first(tmp_path: Path) -> None:
    write(
        tmp_path,
        "customer",
        "c.json",
        customer("b@x.com", serial="S-B", phone=None),
        customer("a@x.com", serial="S-A", phone="1"),
        customer("c@x.com", serial="S-C", customerName=None),
    )

    rows = compute_expected(tmp_path).customer_trusted

    assert [row[1] for row in rows] == ["c@x.com", "a@x.com", "b@x.com"]
