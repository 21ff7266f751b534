"""Rules 2-9 of the data contract, each on a small hand-made lake materialized through the real
asset graph (Spark, Delta, Dagster), under both consent policies."""

import json
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from stedi_assets.settings import ConsentPolicy
from stedi_assets_tests.lakes import HAND_MADE_TIMES, materialize_lake, read_rows


def customer(name: str, email: str, serial: str, updated: int, consent: int | None) -> dict:
    return {
        "customerName": name,
        "email": email,
        "phone": "555-0100",
        "birthDay": "1990-01-01",
        "serialNumber": serial,
        "registrationDate": 10,
        "lastUpdateDate": updated,
        "shareWithResearchAsOfDate": consent,
        "shareWithPublicAsOfDate": None,
        "shareWithFriendsAsOfDate": None,
    }


def reading(user: str, timestamp: int, x: float = 1.0) -> dict:
    return {"user": user, "timestamp": timestamp, "x": x, "y": 2.0, "z": 3.0}


def device(serial: str, time: int, distance: int = 7) -> dict:
    return {"sensorReadingTime": time, "serialNumber": serial, "distanceFromObject": distance}


CUSTOMERS = [
    customer("Old Ann", "ann@x.com", "S-ANN", 50, None),  # superseded by the next record
    customer("Ann", " Ann@X.com ", "S-ANN", 100, 1000),
    customer("Bob", "bob@x.com", "S-BOB", 100, 1000),
    customer("Bob", "bob@x.com", "S-BOB", 200, None),  # withdraws consent
    customer("Cat", "cat@x.com", "S-CAT", 100, None),
    customer("Cat", "cat@x.com", "S-CAT", 200, 150),  # grants consent
    customer("Dan", "dan@x.com", "S-SHARED", 100, 100),
    customer("Eve", "eve@x.com", "S-SHARED", 100, 100),  # same serial as Dan
    customer("Fay", "fay@x.com", "S-FAY", 100, 100),  # consents, but no phone readings
    customer("Gus", "gus@x.com", "S-GUS", 100, None),  # never consents
    customer("Tie A", "tie@x.com", "S-TIE", 100, 100),
    customer("Tie B", "tie@x.com", "S-TIE", 100, None),  # same time: greatest line wins
    customer("Hal", "HAL@x.com", "S-HAL", 100, 100),
    "{not json",
    {"email": "nobody@x.com", "lastUpdateDate": 1},  # no serial number
]
READINGS = [
    reading("ann@x.com", 900),  # before Ann's consent
    reading("ann@x.com", 1000),  # at consent: kept
    reading("ann@x.com", 1500, x=1.0),
    reading("ANN@x.com ", 1500, x=2.0),  # same person, same millisecond, distinct reading
    reading("bob@x.com", 1500),
    reading("cat@x.com", 1600),
    reading("dan@x.com", 1500),
    reading("eve@x.com", 1500),
    reading("gus@x.com", 1500),
    reading("stranger@x.com", 1500),
    reading("  hal@X.COM", 1500, x=9.0),
    '{"user":"ann@x.com","timestamp":"late","x":1,"y":1,"z":1}',
]
DEVICE_READINGS = [
    device("S-ANN", 900),  # before consent
    device("S-ANN", 1000),
    device("S-ANN", 1500),
    device("S-SHARED", 1500),  # withheld: two customers carry S-SHARED
    device("S-FAY", 1500),  # Fay is not curated
    device("S-GUS", 1500),
    device("S-UNKNOWN", 1500),
    device("S-CAT", 1600),
    device("S-HAL", 1500),
    "",
    '{"sensorReadingTime":1500,"serialNumber":"S-ANN","distanceFromObject":"far"}',
]
REDELIVERED_READINGS = [reading("ann@x.com", 1500, x=1.0), reading("eve@x.com", 1500)]
REDELIVERED_DEVICE_READINGS = [device("S-ANN", 1500)]

CUSTOMER_COLUMNS = ["email", "customerName", "shareWithResearchAsOfDate"]
ML_COLUMNS = ["sensorReadingTime", "serialNumber", "distanceFromObject", "x", "y", "z"]


def write(folder: Path, name: str, lines: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    (folder / name).write_text(text)


def build_lake(root: Path) -> Path:
    write(root / "customer/landing", "customers.json", CUSTOMERS)
    write(root / "accelerometer/landing", "readings-1.json", READINGS)
    write(root / "accelerometer/landing", "readings-1-again.json", REDELIVERED_READINGS)
    write(root / "step_trainer/landing", "device-1.json", DEVICE_READINGS)
    write(root / "step_trainer/landing", "device-1-again.json", REDELIVERED_DEVICE_READINGS)
    return root


@pytest.fixture(scope="module", params=[ConsentPolicy.SINCE_CONSENT, ConsentPolicy.ANY_TIME])
def run(request, spark: SparkSession, tmp_path_factory) -> tuple[Path, dg.ExecuteInProcessResult]:
    root = build_lake(tmp_path_factory.mktemp(request.param.value))
    result = materialize_lake(root, spark, request.param, **HAND_MADE_TIMES)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return root, result


def policy_of(root: Path) -> ConsentPolicy:
    return ConsentPolicy(root.name.rstrip("0123456789"))


def materialization(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    (event,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


def test_identity_current_record_withdrawal_and_grant(run, spark: SparkSession) -> None:
    root, _ = run
    assert read_rows(spark, root / "customer/trusted", CUSTOMER_COLUMNS) == [
        ("ann@x.com", "Ann", 1000),  # trimmed and lower-cased; the newer of two records
        ("cat@x.com", "Cat", 150),  # a later record granted consent
        ("dan@x.com", "Dan", 100),
        ("eve@x.com", "Eve", 100),
        ("fay@x.com", "Fay", 100),
        ("hal@x.com", "Hal", 100),
        # Bob withdrew, Gus never consented, Tie's tie went to the record without consent.
    ]


def test_customer_accounting(run) -> None:
    _, result = run
    accounting = materialization(result, "customer_trusted")
    assert {k: accounting[k] for k in ("lines_read", "kept", "quarantined")} == {
        "lines_read": 15,
        "kept": 6,
        "quarantined": 2,
    }
    # superseded: Old Ann, Bob and Cat before their change, Tie A (lost the tie)
    assert accounting["superseded"] == 4
    assert accounting["no_consent"] == 3  # Bob, Gus, Tie B


def test_accelerometer_consent_policy_and_duplicates(run, spark: SparkSession) -> None:
    root, result = run
    since_consent = policy_of(root) is ConsentPolicy.SINCE_CONSENT
    expected = [
        *([] if since_consent else [("ann@x.com", 900, 1.0)]),
        ("ann@x.com", 1000, 1.0),
        ("ann@x.com", 1500, 1.0),  # delivered twice, kept once
        ("ann@x.com", 1500, 2.0),  # same millisecond, distinct reading: kept
        ("cat@x.com", 1600, 1.0),
        ("dan@x.com", 1500, 1.0),
        ("eve@x.com", 1500, 1.0),
        ("hal@x.com", 1500, 9.0),
    ]
    assert read_rows(spark, root / "accelerometer/trusted", ["user", "timestamp", "x"]) == expected
    accounting = materialization(result, "accelerometer_trusted")
    assert accounting["lines_read"] == 14
    assert accounting["duplicate"] == 2 and accounting["quarantined"] == 1
    assert accounting["no_consent"] == 3  # bob (withdrew), gus, a stranger
    assert accounting["before_consent"] == (1 if since_consent else 0)
    assert accounting["kept"] == len(expected)


def test_customers_curated_need_a_trusted_reading(run, spark: SparkSession) -> None:
    root, _ = run
    emails = [row[0] for row in read_rows(spark, root / "customer/curated", ["email"])]
    assert emails == ["ann@x.com", "cat@x.com", "dan@x.com", "eve@x.com", "hal@x.com"]


def test_step_trainer_attribution_and_withheld_devices(run, spark: SparkSession) -> None:
    root, result = run
    since_consent = policy_of(root) is ConsentPolicy.SINCE_CONSENT
    assert read_rows(
        spark, root / "step_trainer/trusted", ["serialNumber", "sensorReadingTime"]
    ) == [
        *([] if since_consent else [("S-ANN", 900)]),
        ("S-ANN", 1000),
        ("S-ANN", 1500),
        ("S-CAT", 1600),
        ("S-HAL", 1500),
    ]
    accounting = materialization(result, "step_trainer_trusted")
    assert accounting["withheld"] == 1  # S-SHARED
    assert accounting["no_consent"] == 3  # S-FAY (not curated), S-GUS, S-UNKNOWN
    assert accounting["duplicate"] == 1 and accounting["quarantined"] == 1
    assert accounting["blank_lines"] == 1 and accounting["lines_read"] == 11
    assert accounting["before_consent"] == (1 if since_consent else 0)


def test_machine_learning_pairs_only_the_same_person(run, spark: SparkSession) -> None:
    root, _ = run
    since_consent = policy_of(root) is ConsentPolicy.SINCE_CONSENT
    table = spark.read.format("delta").load(str(root / "step_trainer/curated"))
    assert table.columns == ML_COLUMNS  # no personal data
    # Ann, Dan, Eve and Hal all have phone readings at 1500: a join on time alone would pair
    # S-ANN's reading with all of them.
    assert read_rows(
        spark, root / "step_trainer/curated", ["serialNumber", "sensorReadingTime", "x"]
    ) == [
        *([] if since_consent else [("S-ANN", 900, 1.0)]),
        ("S-ANN", 1000, 1.0),
        ("S-ANN", 1500, 1.0),
        ("S-ANN", 1500, 2.0),
        ("S-CAT", 1600, 1.0),
        ("S-HAL", 1500, 9.0),
    ]


def test_quarantine_names_file_line_and_reason(run, spark: SparkSession) -> None:
    root, _ = run
    rows = read_rows(
        spark, root / "step_trainer/quarantine", ["source_file", "line_number", "reason"]
    )
    assert [(Path(f).name, n, r) for f, n, r in rows] == [
        ("device-1.json", 11, "field `distanceFromObject` must be an integer, got STRING")
    ]


def test_every_check_passed_and_accounting_balances(run) -> None:
    _, result = run
    evaluations = result.get_asset_check_evaluations()
    # schema + privacy on all; accounting, quarantine and erased lines on trusted tables
    assert len(evaluations) == 5 * 2 + 3 * 3
    failed = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed}
    # Each trusted source had a quarantined line: a warning, not a failure.
    assert failed == {
        (asset, "no_quarantined_lines")
        for asset in ("customer_trusted", "accelerometer_trusted", "step_trainer_trusted")
    }
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations if not e.passed)


def test_materializations_explain_themselves_without_personal_data(run) -> None:
    _, result = run
    (event,) = result.asset_materializations_for_node("customer_trusted")
    metadata = event.metadata
    lineage = metadata["dagster/column_lineage"].value.deps_by_column
    assert lineage["email"] == [dg.TableColumnDep(dg.AssetKey("customer_landing"), "email")]
    preview = metadata["preview"].value
    assert "•••" in preview and "1970-01-01" in preview  # personal fields hidden, times by day
    for personal in ("ann@x.com", "a***", "555-0100", "00 |", "1990-01-01", "S-ANN", "| 100 |"):
        assert personal not in preview, personal
    (devices,) = result.asset_materializations_for_node("step_trainer_trusted")
    assert "S-" not in devices.metadata["preview"].value
    funnel = metadata["landing_funnel"].value
    assert "Where the 15 landing lines went" in funnel and "| superseded | 4 |" in funnel
    columns = {c.name: c for c in metadata["dagster/column_schema"].value.columns}
    assert "lower-cased" in columns["email"].description

    (readings,) = result.asset_materializations_for_node("accelerometer_trusted")
    assert "Customers by number of readings" in readings.metadata["readings_per_customer"].value
    (training,) = result.asset_materializations_for_node("machine_learning_curated")
    deps = training.metadata["dagster/column_lineage"].value.deps_by_column
    assert deps["x"] == [dg.TableColumnDep(dg.AssetKey("accelerometer_trusted"), "x")]
    assert deps["distanceFromObject"] == [
        dg.TableColumnDep(dg.AssetKey("step_trainer_trusted"), "distanceFromObject")
    ]
