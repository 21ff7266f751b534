"""Tests of the sample landing-data generator, checked through the reference contract."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from stedi_assets.tools.cli import main as stedi
from stedi_assets.tools.sample_data import (
    MIN_FILE_BYTES,
    SOURCES,
    SampleSummary,
    write_sample_landing,
)
from stedi_assets_tests.reference_contract import (
    Expected,
    compute_expected,
    landing_lines,
    normalise_email,
    parse_line,
)

CUSTOMERS = 20


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def landing_files(root: Path, source: str) -> list[Path]:
    directory = root / source / "landing"
    return [p for p in sorted(directory.iterdir()) if not p.name.startswith((".", "_"))]


def valid_records(root: Path, source: str) -> list[dict]:
    records = []
    for _, _, text in landing_lines(root / source / "landing"):
        values, _ = parse_line(source, text)
        if values is not None:
            records.append(values)
    return records


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    root = tmp_path_factory.mktemp("lake")
    return root, write_sample_landing(root, customers=CUSTOMERS, seed=7)


@pytest.fixture(scope="module")
def expected(lake: tuple[Path, SampleSummary]) -> Expected:
    return compute_expected(lake[0])


def test_same_seed_gives_identical_bytes(tmp_path: Path, lake: tuple[Path, SampleSummary]) -> None:
    summary = write_sample_landing(tmp_path, customers=CUSTOMERS, seed=7)

    assert tree(tmp_path) == tree(lake[0])
    assert summary == lake[1]


def test_other_seed_gives_other_data(tmp_path: Path, lake: tuple[Path, SampleSummary]) -> None:
    write_sample_landing(tmp_path, customers=CUSTOMERS, seed=8)

    first, second = tree(lake[0]), tree(tmp_path)
    assert all(first.get(path) != data for path, data in second.items() if path.endswith("1.json"))


def test_rerun_replaces_earlier_output(tmp_path: Path, lake: tuple[Path, SampleSummary]) -> None:
    write_sample_landing(tmp_path, customers=3 * CUSTOMERS, seed=1, max_file_bytes=MIN_FILE_BYTES)
    write_sample_landing(tmp_path, customers=CUSTOMERS, seed=7)

    assert tree(tmp_path) == tree(lake[0])


def test_summary_matches_the_files(lake: tuple[Path, SampleSummary]) -> None:
    root, summary = lake
    for source in SOURCES:
        files = landing_files(root, source)
        counted = getattr(summary, source)
        assert counted.files == len(files) >= 5  # at least four files plus a redelivered copy
        assert counted.bytes == sum(p.stat().st_size for p in files)
        assert counted.lines == sum(p.read_bytes().count(b"\n") for p in files)
        assert all(p.name.startswith(f"{source}-") and p.suffix == ".json" for p in files)


def test_every_fault_is_injected_at_least_once(lake: tuple[Path, SampleSummary]) -> None:
    faults = lake[1].faults
    per_source = {"truncated_json", "non_object_json", "trailing_garbage", "duplicate_key"}
    per_source |= {"nan_literal", "missing_required", "null_required", "string_for_number"}
    per_source |= {"number_for_string", "fraction_for_integer", "boolean_value"}
    per_source |= {"out_of_range_integer", "blank_lines", "crlf", "unknown_field"}
    per_source |= {"redelivered_files", "hidden_files", "bom_files"}
    names = {f"{source}.{fault}" for source in SOURCES for fault in per_source}
    names |= {"customer.blank_email", "customer.optional_wrong_type", "customer.email_variant"}
    names |= {"accelerometer.double_overflow", "accelerometer.user_variant"}
    names |= {"accelerometer.duplicate", "step_trainer.duplicate"}
    names |= {"consent_withdrawn", "consent_granted", "last_update_tie", "profile_updated"}
    names |= {"consent_before_registration", "consent_after_registration", "never_consented"}
    names |= {"shared_serial_groups", "same_millisecond_customer_pairs"}
    names |= {"same_millisecond_multi_readings", "readings_before_consent_customers"}
    names |= {"unknown_users", "unknown_devices", "device_without_phone_readings"}

    assert names <= faults.keys()
    assert all(count >= 1 for count in faults.values()), faults


def test_every_outcome_of_the_contract_occurs(expected: Expected) -> None:
    assert all(expected.quarantined[source] for source in SOURCES)
    for table, counts in expected.accounting.items():
        # Sample data comes before any erasure: no line of an erased person can be in it.
        occurring = {kind: count for kind, count in counts.items() if kind != "erased"}
        assert all(count > 0 for count in occurring.values()), (table, counts)
    assert expected.customers_curated
    assert len(expected.customers_curated) < len(expected.customer_trusted)
    assert expected.machine_learning_curated


@pytest.mark.parametrize("policy", ["since_consent", "any_time"])
def test_accounting_adds_up(lake: tuple[Path, SampleSummary], policy: str) -> None:
    expected = compute_expected(lake[0], policy)
    for counts in expected.accounting.values():
        outcomes = sum(v for k, v in counts.items() if k not in ("lines_read", "blank_lines"))
        assert counts["lines_read"] == outcomes
    for source in SOURCES:
        counts = expected.accounting[f"{source}_trusted"]
        assert counts["lines_read"] + counts["blank_lines"] == getattr(lake[1], source).lines
        assert counts["quarantined"] == len(expected.quarantined[source])
    assert expected.accounting["accelerometer_trusted"]["kept"] == len(
        expected.accelerometer_trusted
    )


def test_consent_changes_ties_and_email_variants(lake: tuple[Path, SampleSummary]) -> None:
    by_email: dict[str, list[dict]] = defaultdict(list)
    for record in valid_records(lake[0], "customer"):
        by_email[normalise_email(record["email"])].append(record)
    histories = [sorted(rs, key=lambda r: r["lastUpdateDate"]) for rs in by_email.values()]

    def research(history: list[dict]) -> list[bool]:
        return [r["shareWithResearchAsOfDate"] is not None for r in history]

    assert any(research(h)[0] and not research(h)[-1] for h in histories)  # withdrawal
    assert any(not research(h)[0] and research(h)[-1] for h in histories)  # grant
    assert any(
        len({r["lastUpdateDate"] for r in h}) < len({r["phone"] for r in h}) for h in histories
    )
    records = [r for h in histories for r in h if r["shareWithResearchAsOfDate"] is not None]
    assert any(r["shareWithResearchAsOfDate"] < r["registrationDate"] for r in records)
    assert any(r["shareWithResearchAsOfDate"] > r["registrationDate"] for r in records)
    emails = [r["email"] for h in histories for r in h]
    assert any(e != e.strip() for e in emails) and any(
        e.strip() != e.strip().lower() for e in emails
    )
    users = {r["user"] for r in valid_records(lake[0], "accelerometer")}
    assert any(u != normalise_email(u) for u in users if normalise_email(u) in by_email)


def test_files_redelivered_with_crlf_bom_and_hidden_files(lake: tuple[Path, SampleSummary]) -> None:
    root = lake[0]
    for source in SOURCES:
        contents = [p.read_bytes() for p in landing_files(root, source)]
        assert len(set(contents)) == len(contents) - 1  # one exact copy
        assert any(b"\r\n" in data for data in contents)
        assert any(data.startswith("\ufeff".encode()) for data in contents)
        hidden = [p for p in (root / source / "landing").iterdir() if p.name[0] in "._"]
        assert len(hidden) == 2


def test_shared_serials_and_unknown_devices_have_step_readings(
    lake: tuple[Path, SampleSummary],
) -> None:
    current: dict[str, dict] = {}
    for record in valid_records(lake[0], "customer"):
        email = normalise_email(record["email"])
        if email not in current or record["lastUpdateDate"] > current[email]["lastUpdateDate"]:
            current[email] = record
    carriers: dict[str, set[str]] = defaultdict(set)
    for email, record in current.items():
        carriers[record["serialNumber"]].add(email)
    step_serials = {r["serialNumber"] for r in valid_records(lake[0], "step_trainer")}

    assert any(len(carriers.get(serial, ())) >= 2 for serial in step_serials)
    assert any(serial not in carriers for serial in step_serials)
    users = {normalise_email(r["user"]) for r in valid_records(lake[0], "accelerometer")}
    assert users - current.keys()


def test_same_millisecond_readings(expected: Expected) -> None:
    users_at: dict[int, set[str]] = defaultdict(set)
    per_user_ms: dict[tuple[str, int], int] = defaultdict(int)
    for user, timestamp, *_ in expected.accelerometer_trusted:
        users_at[timestamp].add(user)
        per_user_ms[user, timestamp] += 1
    assert any(len(users) >= 2 for users in users_at.values())
    assert any(count >= 2 for count in per_user_ms.values())

    serials_at: dict[int, set[str]] = defaultdict(set)
    for time, serial, _ in expected.step_trainer_trusted:
        serials_at[time].add(serial)
    assert any(len(serials) >= 2 for serials in serials_at.values())
    ml_keys = [row[:3] for row in expected.machine_learning_curated]
    assert len(ml_keys) > len(set(ml_keys))  # a step reading paired with several readings


def test_data_has_the_course_shape(expected: Expected) -> None:
    readings = expected.accounting["accelerometer_trusted"]["lines_read"]
    steps = expected.accounting["step_trainer_trusted"]["lines_read"]
    assert 0.2 < steps / readings < 0.5
    assert len(expected.customer_trusted) > CUSTOMERS / 2
    counts = expected.accounting["accelerometer_trusted"]
    assert counts["kept"] > 3 * counts["before_consent"]  # mostly after consent


def test_file_size_limit_only_changes_the_split(tmp_path: Path) -> None:
    default = write_sample_landing(tmp_path / "default", customers=60, seed=3)
    small = write_sample_landing(
        tmp_path / "small", customers=60, seed=3, max_file_bytes=MIN_FILE_BYTES
    )

    for source in SOURCES:
        sizes = [p.stat().st_size for p in landing_files(tmp_path / "small", source)]
        assert max(sizes) <= MIN_FILE_BYTES
    assert small.accelerometer.files > default.accelerometer.files
    assert small.faults == default.faults
    split, whole = compute_expected(tmp_path / "small"), compute_expected(tmp_path / "default")
    for table in ("customer_trusted", "accelerometer_trusted", "machine_learning_curated"):
        assert getattr(split, table) == getattr(whole, table)


def test_valid_lines_have_the_contract_fields_and_formats(
    lake: tuple[Path, SampleSummary],
) -> None:
    serial = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    customers = valid_records(lake[0], "customer")
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", c["birthDay"]) for c in customers)
    assert all(serial.fullmatch(c["serialNumber"]) for c in customers)
    assert any(not c["customerName"].isascii() for c in customers)  # UTF-8 names
    assert all(c["email"].isascii() for c in customers)
    assert any(c["shareWithPublicAsOfDate"] is not None for c in customers)
    assert all(serial.fullmatch(s["serialNumber"]) for s in valid_records(lake[0], "step_trainer"))
    for source, order in (
        ("customer", [name for name in customers[0]]),
        ("accelerometer", ["user", "timestamp", "x", "y", "z"]),
        ("step_trainer", ["sensorReadingTime", "serialNumber", "distanceFromObject"]),
    ):
        lines = [text for _, _, text in landing_lines(lake[0] / source / "landing")]
        good = [text for text in lines if parse_line(source, text)[0] is not None]
        assert len(good) > 0.5 * len(lines)
        assert any(list(json.loads(text)) == order for text in good)


def test_arguments_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers"):
        write_sample_landing(tmp_path, customers=5, seed=1)
    with pytest.raises(ValueError, match="max_file_bytes"):
        write_sample_landing(tmp_path, customers=CUSTOMERS, seed=1, max_file_bytes=100)
    with pytest.raises(SystemExit):
        stedi(["sample-data", "--customers", "3", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        stedi(["sample-data", "--out", "s3://bucket/lake"])


def test_cli_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stedi(
        [
            "sample-data",
            "--customers",
            "20",
            "--seed",
            "7",
            "--out",
            str(tmp_path),
            "--max-file-mb",
            "0.5",
        ]
    )

    output = capsys.readouterr().out
    assert all(source in output for source in SOURCES)
    assert "Faults injected" in output and "consent_withdrawn" in output
    assert (tmp_path / "accelerometer" / "landing" / "accelerometer-0001.json").is_file()


def test_cli_defaults_to_stedi_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEDI_LAKE", str(tmp_path / "env-lake"))

    stedi(["sample-data", "--customers", "20"])

    assert (tmp_path / "env-lake" / "customer" / "landing" / "customer-0001.json").is_file()


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        stedi(["sample-data", "--help"])

    assert exit_info.value.code == 0
    assert "--readings-per-customer" in capsys.readouterr().out
