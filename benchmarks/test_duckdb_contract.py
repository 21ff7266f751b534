"""The DuckDB contract (benchmarks/duckdb_contract.py) against the pure-Python reference.

No Spark: generated landing data (every fault injected) and a hand-made folder of edge cases
are run through ``run_contract``; every table (as a multiset of row tuples, columns in
``reference_contract.COLUMNS`` order), the quarantined (file name, line number) pairs and the
accounting must equal what ``compute_expected`` gives, for both consent policies. Floats are
compared with their sign: no duplicate readings here differ only in the sign of a zero, so
-0.0 must come out exactly where Python has it.

    .venv/bin/pytest -q benchmarks/test_duckdb_contract.py -p no:cacheprovider
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

from stedi_assets.tools.sample_data import write_sample_landing

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    """Import a module from its file (neither folder is an installed package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


contract = _load("duckdb_contract", ROOT / "benchmarks" / "duckdb_contract.py")
reference = _load(
    "stedi_assets_tests.reference_contract", ROOT / "stedi_assets_tests" / "reference_contract.py"
)

POLICIES = ("since_consent", "any_time")


def _signed(row: tuple[object, ...]) -> tuple[object, ...]:
    """The row with each float paired with its sign, so that -0.0 and 0.0 differ."""
    return tuple((v, math.copysign(1.0, v)) if isinstance(v, float) else v for v in row)


def _rows(path: Path, columns: tuple[str, ...]) -> Counter[tuple[object, ...]]:
    selected = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT {selected} FROM read_parquet(?)", [str(path)]).fetchall()
    return Counter(map(_signed, rows))


def _quarantined(path: Path) -> list[tuple[str, int]]:
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT source_file, line_number, line, reason FROM read_parquet(?)", [str(path)]
        ).fetchall()
    assert all(reason for _, _, _, reason in rows), "every quarantined line has a reason"
    return sorted((Path(file).name, number) for file, number, _, _ in rows)


def assert_matches_reference(
    lake: Path, out: Path, policy: str, earliest_time_ms: int = reference.EARLIEST_TIME_MS
) -> dict[str, int]:
    counts = contract.run_contract(lake, out, policy, threads=2, earliest_time_ms=earliest_time_ms)
    expected = reference.compute_expected(lake, policy, earliest_time_ms)
    for table, columns in reference.COLUMNS.items():
        got = _rows(out / f"{table}.parquet", columns)
        want = Counter(map(_signed, getattr(expected, table)))
        assert got == want, (
            f"{table}: {sum((got - want).values())} unexpected rows, e.g. "
            f"{list((got - want).elements())[:3]}; {sum((want - got).values())} missing, "
            f"e.g. {list((want - got).elements())[:3]}"
        )
        assert counts[table] == sum(want.values())
    for source in reference.SOURCES:
        got_pairs = _quarantined(out / f"{source}_quarantine.parquet")
        assert got_pairs == expected.quarantined[source], source
        assert counts[f"{source}_quarantine"] == len(got_pairs)
        details = {
            (q.source_file_name, q.line_number): q.line for q in expected.quarantine_details[source]
        }
        with duckdb.connect() as con:
            lines = con.execute(
                "SELECT source_file, line_number, line FROM read_parquet(?)",
                [str(out / f"{source}_quarantine.parquet")],
            ).fetchall()
        assert {(Path(f).name, n): text for f, n, text in lines} == details, source
    accounting = {
        table: {
            key.split(".", 1)[1]: value
            for key, value in counts.items()
            if key.startswith(f"{table}.")
        }
        for table in expected.accounting
    }
    assert accounting == expected.accounting
    return counts


@pytest.mark.parametrize("customers", [30, 200])
@pytest.mark.parametrize("seed", [7, 2024])
def test_generated_landing_data(tmp_path: Path, customers: int, seed: int) -> None:
    lake = tmp_path / "lake"
    write_sample_landing(lake, customers, seed)
    for policy in POLICIES:
        counts = assert_matches_reference(lake, tmp_path / policy, policy)
        assert counts["accelerometer_trusted"] > 0
        assert counts["machine_learning_curated"] > 0
        assert all(counts[f"{source}_quarantine"] > 0 for source in reference.SOURCES)


def test_general_json_path_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the string-function fast path off, every line goes through the JSON functions."""
    monkeypatch.setattr(contract, "FAST_PATH", False)
    lake = tmp_path / "lake"
    write_sample_landing(lake, 60, 11)
    for policy in POLICIES:
        assert_matches_reference(lake, tmp_path / policy, policy)


def test_many_files_per_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small landing files, several per read_text scan (file ids found by list_position)."""
    monkeypatch.setattr(contract, "_MAX_SCANS", 3)
    lake = tmp_path / "lake"
    write_sample_landing(lake, 150, 5, max_file_bytes=64 * 2**10)
    assert len(list((lake / "accelerometer" / "landing").iterdir())) > 10
    assert_matches_reference(lake, tmp_path / "out", "since_consent")


def _customer(email: str, serial: str, updated: int, research: int | None, **extra: object) -> str:
    record: dict[str, object] = {
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
    record.update(extra)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _write(lake: Path, source: str, name: str, data: str | bytes) -> None:
    directory = lake / source / "landing"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data.encode() if isinstance(data, str) else data)


def _edge_case_lake(lake: Path) -> None:
    """Lines where DuckDB's JSON functions and the contract's JSON part ways, and more."""
    r = '{"user":"ann@x.com","timestamp":%s,"x":%s,"y":0.5,"z":1}'
    customers = [
        _customer("ann@x.com", "S-ANN", 100, 50),
        _customer(" ANN@X.com\t", "S-ANN", 100, 40),  # tie on lastUpdateDate: greatest text
        _customer("İbo@x.com", "S-IBO", 100, 50),  # Python lower(): i + combining dot
        _customer("ΟΔΟΣ@x.com", "S-SIG", 100, 50),  # final sigma
        _customer("bob@x.com", "S-BOB", 100, 50, extra={"a": [1, {"b": 2}]}),
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":1,'
        '"extra":{"k":1,"k":2}}',  # nested duplicate key
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":1,'
        '"extra":[1,2,]}',  # nested trailing comma
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":1,}',
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":1,'
        '"extra":NaN}',
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":2,'
        '"extra":1e400}',  # valid: Python reads inf, the field is unknown
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":3,'
        '"extra":"\\ud800 lone"}',  # valid for Python: unpaired surrogate escape
        '{"customerName":"Bob \\ud83d\\ude00","email":"bob@x.com","serialNumber":"S-B",'
        '"lastUpdateDate":4,"x":"\\\\ud800"}',  # a valid pair, an escaped backslash
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":5,'
        '"extra":' + "9" * 4300 + "}",  # 4300 digits: fine
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":6,'
        '"extra":' + "9" * 4301 + "}",  # too many digits for Python's int()
        '{"customerName":"Bob","email":"bob@x.com","serialNumber":"S-B","lastUpdateDate":7,'
        '"\\u0065mail":"b@x.com"}',  # escaped key: duplicate of email
        '  { "email" : "cy@x.com" , "serialNumber":"S-CY", "lastUpdateDate" : 9 ,'
        '"shareWithResearchAsOfDate":0 }  ',
        '{"email":":cy@x.com","serialNumber":"S-CY2","lastUpdateDate":9,'
        '"shareWithResearchAsOfDate":0}',  # a string starting with ':'
        '{"email":"d,\\"x\\":1@x.com","serialNumber":"S-D","lastUpdateDate":9,'
        '"shareWithResearchAsOfDate":0}',
        '{"email":"e@x.com","serialNumber":"S-E","lastUpdateDate":9.0}',
        '{"email":"e@x.com","serialNumber":"S-E","lastUpdateDate":9223372036854775808}',
        '{"email":"e@x.com","serialNumber":"S-E","lastUpdateDate":-9223372036854775808,'
        '"shareWithResearchAsOfDate":-0}',
        '{"email":"e@x.com","serialNumber":"S-E","lastUpdateDate":1,"phone":true}',
        '{"email":" \\u000b ","serialNumber":"S-E","lastUpdateDate":1}',
        '{"email":"f@x.com","serialNumber":"S-F","lastUpdateDate":1,"customerName":"\\u0000"}',
        '{"email":"g@x.com","serialNumber":"S-G","lastUpdateDate":1,"customerName":"\u0301é\u0600"}',
        "[" * 50 + "]" * 50,
        '"just text"',
        "\ufeff{}",  # a BOM that does not start the file
        "{}",
    ]
    _write(lake, "customer", "customers.json", "\ufeff" + "\r\n".join(customers) + "\n \t\n")
    _write(lake, "customer", "no-final-newline.json", _customer("hal@x.com", "S-HAL", 1, 1))
    _write(lake, "customer", "bom-only.json", "\ufeff")
    _write(lake, "customer", "empty.json", "")
    _write(lake, "customer", "_SUCCESS", "")
    _write(lake, "customer", ".hidden.json", _customer("zed@x.com", "S-Z", 1, 1))
    (lake / "customer" / "landing" / "sub").mkdir()
    (lake / "customer" / "landing" / "sub" / "c.json").write_text(_customer("q@x.com", "Q", 1, 1))

    readings = [
        r % (60, "0.1"),
        r % (60, "0.10"),  # the same reading
        r % (60, "-0"),
        r % (60, "0.0"),  # -0 is 0.0 as a double: a duplicate
        r % (61, "-0.0"),
        r % (62, "1e-400"),
        r % (63, "1E+2"),
        r % (64, "123456789012345678901234567890"),
        r % (65, "1e400"),
        r % (66, "NaN"),
        r % (67, "-Infinity"),
        r % (1.0, "1"),
        r % ("1e3", "1"),
        r % (10, "1"),  # before consent
        '{"user":"ANN@X.COM","timestamp":70,"x":1,"y":2,"z":3,"x":1}',
        '{"user":"ANN@X.COM","timestamp":71,"x":1,"y":2,"z":3,"extra":{"a":[{"b":1,"b":1}]}}',
        '{"user":"ANN@X.COM","timestamp":72,"x":1,"y":2,"z":3,"extra":{"a":[{"b":1,"c":1}]}}',
        '{"z":3,"y":2,"x":1,"timestamp":73,"user":"\\tann@x.com"}',
        '{"user":"ann@x.com","timestamp":74,"x":1,"y":2,"z":3} x',
        '{"user":"ann@x.com","timestamp":75,"x":1,"y":2,"z":3}\r',  # CR left after removal
        '{"user":"ann@x.com","timestamp":76,"x":1,"y":2,"z":3}\x0b',
        '{"user":"ann@x.com","timestamp":77,"x":1,"y":2,"z":[3]}',
        '{"user":"ann@x.com","timestamp":78,"x":1,"y":2}',
        '{"user":"ann@x.com","timestamp":79,"x":1,"y":2,"z":null}',
        '{"user":"ann@x.com","timestamp":80,"x":"1","y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":81,"x":01,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":82,"x":1_0,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":83,"x": 1,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":84,"x":+1,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":85,"x":.5,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":86,"x":1.,"y":2,"z":3}',
        '{"user":"ann@x.com","timestamp":87,"x":1,"y":2,"z":3,"n":-nan}',
        '{"user":"ann@x.com","timestamp":88,"x":1,"y":2,"z":3,"n":"NaN, inf"}',
        '{"user":"ann@x.com","timestamp":89,"x":1,"y":2,"z":3,"s":"a\tb"}',  # raw tab
        '{"user":"ann@x.com","timestamp":90,"x":1,"y":2,"z":3,"s":"a\\tb,]"}',
        '{"user":"ann@x.com","timestamp":91,"x":1,"y":2,"z":3,"s":"\\x"}',
        '{"user":"ann@x.com","timestamp":92,"x":1,"y":2,"z":3,"s":"a\x00"}',  # raw NUL
        '{"user":"ann@x.com","timestamp":93,\r"x":1,"y":2,"z":3}',  # CR inside: white space
        '{"user":"ann@x.com","timestamp":94,"x":1,"y":2,"z":3,"s":"\u2028\x85"}',
        "\ufeff",
        "\x85",
        "",
        "\x0c",
        "\r",
    ]
    _write(lake, "accelerometer", "acc [1].json", "\n".join(readings))
    _write(
        lake,
        "accelerometer",
        "latin1.json",
        b'{"user":"ann@x.com","timestamp":95,"x":1,"y":2,"z":3,"n":"caf\xe9"}\n{"user":"\xff"}\n',
    )
    _write(lake, "accelerometer", "ibo.json", r.replace("ann@x.com", "i\u0307bo@x.com") % (70, 1))

    steps = [
        '{"sensorReadingTime":60,"serialNumber":"S-ANN","distanceFromObject":200}',
        '{"sensorReadingTime":60,"serialNumber":"S-ANN","distanceFromObject":200}',
        '{"sensorReadingTime":61,"serialNumber":"S-ANN","distanceFromObject":2147483648}',
        '{"sensorReadingTime":62,"serialNumber":"S-ANN","distanceFromObject":-2147483648}',
        '{"sensorReadingTime":10,"serialNumber":"S-ANN","distanceFromObject":1}',
        '{"sensorReadingTime":70,"serialNumber":"S-IBO","distanceFromObject":1}',
        '{"sensorReadingTime":70,"serialNumber":"S-NONE","distanceFromObject":1}',
        '{"sensorReadingTime":70,"serialNumber":"S-B","distanceFromObject":1}',
        '{"sensorReadingTime":70,"serialNumber":"S-CY","distanceFromObject":1e0}',
        '{"sensorReadingTime":70,"serialNumber":"S-CY","distanceFromObject":1,"w":[]}',
    ]
    _write(lake, "step_trainer", "steps.json", "\n".join(steps) + "\n")


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize("policy", POLICIES)
def test_edge_cases(
    tmp_path: Path, policy: str, fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contract, "FAST_PATH", fast_path)
    lake = tmp_path / "lake"
    _edge_case_lake(lake)
    # The edge cases count time from 0: every time is plausible from the epoch on.
    counts = assert_matches_reference(lake, tmp_path / "out", policy, earliest_time_ms=0)
    assert counts["customer_trusted"] > 0 and counts["machine_learning_curated"] > 0


def test_missing_landing_folders(tmp_path: Path) -> None:
    counts = contract.run_contract(tmp_path / "nothing", tmp_path / "out")
    assert all(counts[name] == 0 for name in (*contract.TABLES, *contract.QUARANTINES))
    assert (tmp_path / "out" / "machine_learning_curated.parquet").is_file()
