"""Single-node reference implementation of the STEDI data contract in DuckDB SQL.

The benchmark times this against the Spark project on the same landing data. It computes
customer_trusted, accelerometer_trusted, customers_curated, step_trainer_trusted,
machine_learning_curated and the three quarantine tables (docs/contract.md) and writes
each as one Parquet file, ``OUT_DIR/<table>.parquet``::

    python benchmarks/duckdb_contract.py LANDING_ROOT OUT_DIR [--policy since_consent|any_time]
        [--threads N] [--memory-limit 4GB]

How it works (everything below runs inside DuckDB):

* Reading. The landing files of a source are listed in Python (regular files directly in the
  folder, names not starting with '.' or '_') and read once with ``read_text``; each file's
  text is split on LF with ``string_split`` and unnested with ``generate_subscripts``, which
  gives the 1-based line numbers for free. ``read_text`` hands all of its files to one thread
  as a single chunk, so the files are spread over a ``UNION ALL`` of ``read_text`` scans (one
  per file, up to 64, balanced by size), which DuckDB runs in parallel. A BOM at the start of
  a file, the empty string after the final LF and one trailing CR per line are handled as the
  contract says, blank lines are flagged, and the lines are materialised (file id, line
  number, text): classifying from a table scan is spread evenly over the threads and costs
  about a fifth less CPU than classifying straight out of the unnested scans (on 10.8 M
  accelerometer lines, 2 threads: 2.9 s + 7.6 s instead of 18.6 s).
* First pass, every line (``CREATE TABLE cls_<source> AS``): the fast path.
  Almost every landing line is a flat object with the source's fields in schema order, no
  white space and no escapes. Such a line is recognised with cheap string functions:
  ``json_valid`` plus ``string_split(line, '":')``, whose pieces must be exactly ``{"f1`` /
  ``<token>,"f2`` / ... / ``<token>}``. A raw '"' cannot occur inside a JSON string, and a
  string starting with ':' only adds a piece, so in a valid line that layout pins every key
  and every value token. A string token must hold no '"' or '\\' (its text is then its
  value); an integer token must be the canonical text of its ``TRY_CAST`` (JSON integers have
  no '+' and no leading zeros; ``-0`` aside); a double token must ``TRY_CAST`` to a finite
  double (in a value slot of valid JSON only a JSON number does: strings, literals, arrays
  and objects do not cast, NaN and Infinity are not finite); ``null`` is accepted for an
  optional field. DuckDB's VARCHAR to DOUBLE cast is correctly rounded, like Python's.
* Second pass (``INSERT``), only the lines the first pass left (1-3 % of generated data):
  DuckDB's JSON functions (``json_valid``, ``json_type``, ``json_keys``, ``json_extract``, and
  ``json_tree`` for nested keys) with the contract's rules; every reason of a line is
  reported, as in the reference. (``FAST_PATH = False`` sends every line here; the tests
  check that both ways give the reference's tables.)
* Tables: the current customer record by ``row_number()`` over (lastUpdateDate DESC, line
  DESC) (DuckDB compares VARCHAR bytewise, which for UTF-8 is Python's code point order),
  ``DISTINCT`` for duplicate readings, left joins for the dispositions, and each table written
  with ``COPY ... (FORMAT parquet)``.

Where DuckDB's JSON reader (yyjson) differs from the contract's JSON, and how it is handled:

* It accepts ``NaN``, ``Infinity``, ``inf`` (any case, optional '-') and trailing commas
  (``{"a":1,}``, ``[1,]``), and it keeps duplicate keys. In a known field these are
  quarantined anyway (wrong type, non-finite number); the top-level object's trailing comma
  is found with a regular expression; for a line with unknown fields the whole line is
  checked: its text with string literals blanked out must hold no letters but those of
  ``true``/``false``/``null`` and number exponents, and no ``,`` before ``]``/``}``; duplicate
  keys are found with ``json_keys`` at the top level and ``json_tree`` below it.
* It rejects unpaired UTF-16 surrogate escapes (``"\\ud800"``), which Python's ``json``
  accepts: a line that is invalid only because of them is re-checked with each unpaired
  surrogate escape replaced by ``\\ufffd`` (its string value then holds U+FFFD where Python
  holds a lone surrogate, which no UTF-8 writer can store anyway).
* It reads integers beyond 64 bits as raw numbers, where Python's ``int()`` refuses more than
  4300 digits (``ValueError``, so the line is invalid JSON): an integer literal longer than
  that in an unknown field quarantines the line. In a known field either way quarantines.
* Numbers: ``1.0`` and ``1e3`` are JSON doubles (``json_type`` DOUBLE, so not integers),
  ``9223372036854775808`` (UBIGINT) and beyond are out of bigint range, ``1e400`` converts to
  infinity (quarantined in a double field, as in the contract), ``1e-400`` is 0.0, and an
  integer ``-0`` in a double field is 0.0 like Python's ``float(int('-0'))`` (DuckDB's cast
  would give -0.0). ``DISTINCT`` treats -0.0 and 0.0 as equal, like Python's tuples.
* Lower-casing: DuckDB's ``lower()`` uses simple case mapping, Python's ``str.lower()`` the
  full one (``İ`` -> ``i̇``, final sigma). ASCII emails (checked with ``strlen = length``) use
  ``lower()``; the rare non-ASCII ones call ``str.lower`` through a DuckDB Python UDF.
* Invalid UTF-8: ``read_text`` refuses such a file; only then, that file is decoded in Python
  with U+FFFD replacement (as the contract reference does) into a temporary copy that is read
  instead, its rows keeping the original file name. A file whose name holds a glob character
  (``*?[]{}``) is read through a temporary symbolic link for the same reason.

Known deviations (not matched, all far outside what the generator or real exports produce):

* Nesting deeper than Python's recursion limit (about 1000 levels, depending on the caller's
  stack depth) is invalid JSON for the reference (``RecursionError``) but valid here.
* Unpaired surrogate escapes: a known string field holding one gets U+FFFD instead of the lone
  surrogate (Python keeps it, but cannot encode it to UTF-8 either); in an unknown key, two
  different unpaired surrogates both read as U+FFFD, so the keys look duplicated.
* Duplicate readings whose only difference is the sign of a zero coordinate (``-0.0`` and
  ``0.0``) are one reading, as in the contract, but the copy kept may carry either sign
  (Python keeps the first read).

Quarantine tables hold ``source_file`` (``LANDING_ROOT/<source>/landing/<name>``),
``line_number``, ``line`` and ``reason``. :func:`run_contract` returns the row count of
every table and quarantine, plus the contract's accounting as ``"<trusted table>.<count>"``
keys (e.g. ``"accelerometer_trusted.duplicate"``; ``blank_lines`` included).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

POLICIES = ("since_consent", "any_time")
SOURCES = ("customer", "accelerometer", "step_trainer")
TABLES = (
    "customer_trusted",
    "accelerometer_trusted",
    "customers_curated",
    "step_trainer_trusted",
    "machine_learning_curated",
)
QUARANTINES = tuple(f"{source}_quarantine" for source in SOURCES)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "string", "bigint", "int" or "double"
    required: bool


def _fields(required: set[str], *specs: tuple[str, str]) -> tuple[Field, ...]:
    return tuple(Field(name, kind, name in required) for name, kind in specs)


SCHEMAS: dict[str, tuple[Field, ...]] = {
    "customer": _fields(
        {"email", "serialNumber", "lastUpdateDate"},
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
    "accelerometer": _fields(
        {"user", "timestamp", "x", "y", "z"},
        ("user", "string"),
        ("timestamp", "bigint"),
        ("x", "double"),
        ("y", "double"),
        ("z", "double"),
    ),
    "step_trainer": _fields(
        {"sensorReadingTime", "serialNumber", "distanceFromObject"},
        ("sensorReadingTime", "bigint"),
        ("serialNumber", "string"),
        ("distanceFromObject", "int"),
    ),
}
# The email identity field of a source, stored normalised (trim, then lower-case).
IDENTITY = {"customer": "email", "accelerometer": "user"}

_SQL_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE"}
_INTEGER_TYPES = "('BIGINT', 'UBIGINT')"
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"
# Contract white space (blank lines, email trim) as an SQL expression; JSON white space as an
# RE2 character class.
_WS = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))"
_JSON_WS = r"[ \t\n\r]"
_GLOB_CHARS = frozenset("*?[]{}")
# read_text scans in the UNION ALL: one per file up to this many (parallel branches).
_MAX_SCANS = 64
_PYTHON_INT_DIGITS = 4300  # sys.int_info.default_max_str_digits: json.loads fails beyond it
_STAND_IN_NUMBERS = itertools.count()
# Recognise canonical lines with string functions (tests switch it off to check that the
# general JSON path alone gives the same tables).
FAST_PATH = True


def _q(text: str) -> str:
    """SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name + '"'


# ---------------------------------------------------------------------------------------------
# Reading landing files


def landing_files(directory: Path) -> list[Path]:
    """Regular files directly in ``directory`` whose names do not start with '.' or '_'."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if not path.name.startswith((".", "_")) and path.is_file()
    )


def _lines_sql(buckets: list[list[tuple[int, str]]]) -> str:
    """SQL of every line: file_id, line_number, line (BOM, CR removed), blank.

    ``buckets`` holds (file id, path to read) pairs; each bucket is one read_text scan.
    """
    if not buckets:
        scan = (
            "SELECT NULL::INTEGER AS file_id, NULL::BIGINT AS line_number, "
            "NULL::VARCHAR AS piece, NULL::BIGINT AS pieces WHERE false"
        )
    else:
        branches = []
        for bucket in buckets:
            ids = "[" + ", ".join(str(i) for i, _ in bucket) + "]"
            paths = "[" + ", ".join(_q(path) for _, path in bucket) + "]"
            file_id = (
                f"{bucket[0][0]}"
                if len(bucket) == 1
                else f"{ids}[list_position({paths}, filename)]"
            )
            branches.append(
                "SELECT file_id, generate_subscripts(p, 1) AS line_number, "
                "unnest(p) AS piece, len(p) AS pieces FROM ("
                f"SELECT {file_id}::INTEGER AS file_id, string_split(content, chr(10)) AS p "
                f"FROM read_text({paths}))"
            )
        scan = "\nUNION ALL\n".join(branches)
    return f"""
SELECT file_id, line_number, line,
  CASE WHEN ascii(line) > 32 THEN false ELSE trim(line, {_WS}) = '' END AS blank
FROM (
  SELECT file_id, line_number,
    CASE WHEN suffix(text0, chr(13)) THEN left(text0, length(text0) - 1) ELSE text0 END AS line
  FROM (
    SELECT file_id, line_number, pieces,
      CASE WHEN line_number = 1 AND starts_with(piece, chr(65279)) THEN substr(piece, 2)
           ELSE piece END AS text0
    FROM ({scan})
  )
  WHERE NOT (line_number = pieces AND text0 = '')
)"""


# ---------------------------------------------------------------------------------------------
# Classifying lines


def _repair_surrogates(text: str) -> str:
    """SQL: ``text`` with every unpaired UTF-16 surrogate escape replaced by \\ufffd.

    Escaped backslashes become \\u005c first (same meaning), valid pairs are marked \\U
    while lone surrogates are replaced, then restored. Only used on lines that hold no
    \\U of their own (an invalid escape anyway).
    """
    protected = f"replace({text}, '\\\\', '\\u005c')"
    pairs = (
        f"regexp_replace({protected}, "
        r"'\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})', "
        r"'\\U\1\\U\2', 'g')"
    )
    lone = f"regexp_replace({pairs}, " r"'\\u[dD][89a-fA-F][0-9a-fA-F]{2}', '\\ufffd', 'g')"
    return f"replace({lone}, '\\U', '\\u')"


def _trimmed(expr: str) -> str:
    """SQL: ``expr`` without contract white space at either end.

    DuckDB's trim() with a character list costs about a microsecond per string, so it only
    runs when the first or last character can be white space (all of it is <= U+0020).
    """
    ends = " OR ".join(f"suffix({expr}, chr({code}))" for code in (32, 9, 10, 11, 12, 13))
    return (
        f"CASE WHEN coalesce(ascii({expr}) <= 32, true) OR {ends} "
        f"THEN trim({expr}, {_WS}) ELSE {expr} END"
    )


def _lowered(expr: str) -> str:
    """SQL: ``expr`` lower-cased like Python's str.lower() (DuckDB's lower() for ASCII)."""
    return f"CASE WHEN strlen({expr}) = length({expr}) THEN lower({expr}) ELSE py_lower({expr}) END"


def _output_columns(source: str, value: str, status: str) -> list[str]:
    """SQL of the typed columns of a classified line, from ``value.format(i)`` (field i).

    The identity field is expected trimmed in column ``identity``, and is lower-cased here.
    """
    columns = []
    for i, f in enumerate(SCHEMAS[source]):
        expr = _lowered("identity") if f.name == IDENTITY.get(source) else value.format(i)
        sql_type = _SQL_TYPES[f.kind]
        columns.append(f"CASE WHEN {status} = 2 THEN {expr} END::{sql_type} AS {_ident(f.name)}")
    return columns


def _identity_sql(source: str, value: str, status: str) -> str:
    """SQL: the trimmed identity value of a valid line (NULL for sources without one)."""
    if source not in IDENTITY:
        return "NULL"
    index = [f.name for f in SCHEMAS[source]].index(IDENTITY[source])
    return f"CASE WHEN {status} = 2 THEN {_trimmed(value.format(index))} END"


def _fast_sql(source: str, lines_sql: str, times: _Times) -> str:
    """First pass over every line of ``source``: blank lines, and lines of canonical layout.

    status 0 blank, 2 valid (typed columns filled), 3 left for the general pass (file_id,
    line_number and line kept). The line is kept for every customer line (tie-break).
    Columns: status, file_id, line_number, line, reason, tree_doc, one per field.
    """
    fields = SCHEMAS[source]
    n = len(fields)
    names = [f.name for f in fields]
    # Pieces of string_split(line, '":') must be {"f1 / tok1,"f2 / ... / tokN}.
    # (Pieces are taken out of the list once: each list access costs as much as a check.)
    pieces = ", ".join(f"p[{k}] AS p{k}" for k in range(1, n + 2))
    first = _q('{"' + names[0])
    layout = [f"pieces = {n + 1}", f"p1 = {first}"]
    markers = [_q(',"' + name) for name in names]
    layout += [f"suffix(p{i + 1}, {markers[i]})" for i in range(1, n)]
    layout.append(f"suffix(p{n + 1}, '}}')")
    tokens = []
    for i in range(n):
        drop = len(',"' + names[i + 1]) if i + 1 < n else 1
        tokens.append(f"left(p{i + 2}, length(p{i + 2}) - {drop}) AS t{i}")

    conversions, oks, values = [], [], []
    for i, f in enumerate(fields):
        t = f"t{i}"
        null_ok = "false" if f.required else "true"
        if f.kind == "string":
            # A string token without '"' or '\' inside: its text is its value.
            conversions.append(
                f"CASE WHEN strlen({t}) >= 2 AND starts_with({t}, '\"') AND suffix({t}, '\"') "
                f"THEN substr({t}, 2, length({t}) - 2) END AS c{i}"
            )
            ok = f"c{i} IS NOT NULL AND NOT contains(c{i}, '\"') AND NOT contains(c{i}, '\\')"
            if source == "customer" and f.name == "email":
                ok += f" AND {_trimmed(f'c{i}')} <> ''"
        elif f.kind in ("bigint", "int"):
            # JSON integers are written canonically (no '+', no leading zero) but for -0.
            conversions.append(f"TRY_CAST({t} AS {_SQL_TYPES[f.kind]}) AS c{i}")
            ok = f"(c{i}::VARCHAR = {t} OR {t} = '-0')"
        else:
            # In a value slot of valid JSON, text that DuckDB casts to a finite double is a
            # JSON number (strings, literals, arrays and objects do not cast; NaN and
            # Infinity are not finite). An integer token (no '.', 'e', 'E') of value 0 is
            # 0.0, as Python's float(int('-0')).
            conversions.append(f"TRY_CAST({t} AS DOUBLE) AS c{i}")
            ok = f"isfinite(c{i})"
        plausible = _plausible_range(f, times)
        if plausible:  # an implausible value is left for the general pass, which keeps its place
            ok = f"({ok}) AND c{i} {plausible}"
        oks.append(f"CASE WHEN {t} = 'null' THEN {null_ok} ELSE coalesce({ok}, false) END")
        if f.kind == "double":
            values.append(
                f"CASE WHEN {t} = 'null' THEN NULL WHEN c{i} = 0 AND NOT (contains({t}, '.') "
                f"OR contains({t}, 'e') OR contains({t}, 'E')) THEN 0.0::DOUBLE "
                f"ELSE c{i} END AS v{i}"
            )
        else:
            values.append(f"CASE WHEN {t} = 'null' THEN NULL ELSE c{i} END AS v{i}")

    fast = f"coalesce(jv AND layout_ok AND {' AND '.join(oks)}, false)" if FAST_PATH else "false"
    keep = "true" if source == "customer" else "status = 3"
    return f"""
SELECT status,
  CASE WHEN {keep} THEN file_id END AS file_id,
  CASE WHEN {keep} THEN line_number END::BIGINT AS line_number,
  CASE WHEN {keep} THEN line END AS line,
  NULL::VARCHAR AS reason,
  NULL::VARCHAR AS tree_doc,
  {", ".join(_output_columns(source, "v{0}", "status"))}
FROM (
SELECT *, {_identity_sql(source, "v{0}", "status")} AS identity
FROM (
SELECT *, {", ".join(values)},
  (CASE WHEN blank THEN 0 WHEN {fast} THEN 2 ELSE 3 END)::UTINYINT AS status
FROM (
SELECT *, {", ".join(conversions)}
FROM (
SELECT *, {", ".join(tokens)}
FROM (
SELECT *, coalesce({" AND ".join(layout)}, false) AS layout_ok
FROM (
SELECT *, len(p) AS pieces, {pieces}
FROM (
SELECT *,
  CASE WHEN NOT blank THEN json_valid(line) END AS jv,
  CASE WHEN NOT blank THEN string_split(line, '":') END AS p
FROM ({lines_sql})
)))))))"""


def _general_sql(source: str, lines_sql: str, times: _Times) -> str:
    """Second pass, with DuckDB's JSON functions, over the lines the first pass left.

    ``lines_sql`` yields file_id, line_number, line. Output columns as the first pass,
    status 1 (quarantined, with reason) or 2 (valid); tree_doc holds the JSON text of a
    valid line with unknown fields (checked for nested duplicate keys with json_tree).
    """
    fields = SCHEMAS[source]
    names = [f.name for f in fields]
    paths = "[" + ", ".join(_q(f"$.{name}") for name in names) + "]"
    known = "[" + ", ".join(_q(name) for name in names) + "]"
    reasons, values = [], []
    for i, f in enumerate(fields):
        v, y = f"vals[{i + 1}]", f"json_type(vals[{i + 1}])"
        sql_type = _SQL_TYPES[f.kind]
        if f.required:
            absent = f"{_q(f.name + ': required field is absent')}"
            null = f"{_q(f.name + ': required field is null')}"
        else:
            absent = null = "NULL"
        checks = [
            f"WHEN {v} IS NULL THEN {absent}",
            f"WHEN {y} = 'NULL' THEN {null}",
            f"WHEN {y} = 'BOOLEAN' THEN {_q(f'{f.name}: boolean where {f.kind} expected')}",
        ]
        if f.kind == "string":
            checks.append(f"WHEN {y} <> 'VARCHAR' THEN {_q(f.name + ': not a string')}")
            value = f"CASE WHEN {y} = 'VARCHAR' THEN json_extract_string({v}, '$') END"
        elif f.kind in ("bigint", "int"):
            checks += [
                f"WHEN {y} NOT IN {_INTEGER_TYPES} "
                f"THEN {_q(f'{f.name}: not a JSON integer ({f.kind})')}",
                f"WHEN TRY_CAST({v} AS {sql_type}) IS NULL "
                f"THEN {_q(f'{f.name}: out of {f.kind} range')}",
            ]
            value = f"CASE WHEN {y} IN {_INTEGER_TYPES} THEN TRY_CAST({v} AS {sql_type}) END"
        else:
            checks += [
                f"WHEN {y} NOT IN {_NUMBER_TYPES} THEN {_q(f.name + ': not a number')}",
                f"WHEN NOT coalesce(isfinite(TRY_CAST({v} AS DOUBLE)), false) "
                f"THEN {_q(f.name + ': non-finite double')}",
            ]
            value = f"CASE WHEN {y} IN {_NUMBER_TYPES} THEN TRY_CAST({v} AS DOUBLE) END"
        reasons.append("CASE " + " ".join(checks) + " END")
        plausible = _plausible_range(f, times)
        if plausible:
            reasons.append(
                f"CASE WHEN NOT coalesce(v{i} {plausible}, true) "
                f"THEN {_q(f.name + ': implausible value')} END"
            )
        if source == "customer" and f.name == "email":
            reasons.append(
                f"CASE WHEN {y} = 'VARCHAR' AND trim(json_extract_string({v}, '$'), {_WS}) = '' "
                "THEN 'email: blank' END"
            )
        values.append(f"{value} AS v{i}")

    keep = "true" if source == "customer" else "status = 1 OR tree_doc IS NOT NULL"
    digits = _PYTHON_INT_DIGITS
    return rf"""
SELECT status,
  CASE WHEN {keep} THEN file_id END AS file_id,
  CASE WHEN {keep} THEN line_number END::BIGINT AS line_number,
  CASE WHEN {keep} THEN line END AS line,
  CASE WHEN status = 1 THEN reason END AS reason,
  tree_doc,
  {", ".join(_output_columns(source, "v{0}", "status"))}
FROM (
SELECT *,
  CASE WHEN status = 2 AND unknown THEN doc END AS tree_doc,
  {_identity_sql(source, "v{0}", "status")} AS identity
FROM (
SELECT *, (CASE WHEN reason <> '' THEN 1 ELSE 2 END)::UTINYINT AS status
FROM (
SELECT *,
  CASE WHEN doc IS NULL THEN 'invalid JSON'
       WHEN NOT obj THEN 'JSON ' || lower(doc_type) || ', not an object'
       WHEN json_problem <> '' THEN json_problem
       ELSE concat_ws('; ', {", ".join(reasons)}) END AS reason
FROM (
SELECT *, {", ".join(values)},
  CASE WHEN obj THEN concat_ws('; ',
    CASE WHEN len(keys) <> len(list_distinct(keys)) THEN 'invalid JSON: duplicate key' END,
    CASE WHEN regexp_matches(doc, ',{_JSON_WS}*\}}{_JSON_WS}*$')
           OR regexp_matches(skel, ',{_JSON_WS}*[\]}}]')
         THEN 'invalid JSON: trailing comma' END,
    CASE WHEN regexp_matches(regexp_replace(skel, 'true|false|null', '', 'g'), '[a-df-zA-DF-Z]')
         THEN 'invalid JSON: NaN or Infinity literal' END,
    CASE WHEN strlen(doc) > {digits} AND len(list_filter(
           regexp_extract_all(skel, '-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?'),
           x -> NOT regexp_matches(x, '[.eE]') AND strlen(ltrim(x, '-')) > {digits})) > 0
         THEN 'invalid JSON: integer literal of more than {digits} digits' END
  ) END AS json_problem
FROM (
SELECT *,
  CASE WHEN obj AND (unknown OR strlen(doc) > {digits})
       THEN regexp_replace(doc, '"(?:[^"\\]|\\.)*"', '""', 'g') END AS skel
FROM (
SELECT *,
  CASE WHEN obj THEN len(list_filter(keys, k -> NOT list_contains({known}, k))) > 0 END
    AS unknown
FROM (
SELECT *, doc_type = 'OBJECT' AS obj,
  CASE WHEN doc_type = 'OBJECT' THEN json_keys(doc) END AS keys,
  CASE WHEN doc_type = 'OBJECT' THEN json_extract(doc, {paths}) END AS vals
FROM (
SELECT *, json_type(doc) AS doc_type
FROM (
SELECT *,
  CASE WHEN json_valid(line) THEN line
       WHEN contains(line, '\u') AND NOT contains(replace(line, '\\', '\u005c'), '\U')
            AND json_valid({_repair_surrogates("line")})
       THEN {_repair_surrogates("line")} END AS doc
FROM ({lines_sql})
)))))))))"""


# ---------------------------------------------------------------------------------------------
# The contract


def _python_lower(text: str) -> str:
    return text.lower()


def _connect(
    threads: int | None, memory_limit: str | None, spill: Path
) -> duckdb.DuckDBPyConnection:
    config: dict[str, str | int | bool] = {
        "preserve_insertion_order": False,
        "temp_directory": str(spill),
    }
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    con.create_function("py_lower", _python_lower, ["VARCHAR"], "VARCHAR", side_effects=False)
    return con


def _readable_paths(
    con: duckdb.DuckDBPyConnection, files: list[Path], scratch: Path, check_utf8: bool
) -> list[str]:
    """The path read_text reads for each file.

    A path with glob characters is read through a symbolic link; with ``check_utf8``, a file
    that is not valid UTF-8 is decoded like the contract reference (U+FFFD replacement) into
    a temporary copy.
    """
    paths = []
    for path in files:
        read = str(path)
        if _GLOB_CHARS.intersection(read):
            stand_in = scratch / f"{next(_STAND_IN_NUMBERS)}.json"
            stand_in.symlink_to(path.resolve())
            read = str(stand_in)
        if check_utf8:
            try:
                con.execute("SELECT sum(strlen(content)) FROM read_text(?)", [read]).fetchall()
            except duckdb.InvalidInputException:
                stand_in = scratch / f"{next(_STAND_IN_NUMBERS)}.json"
                text = path.read_bytes().decode("utf-8", errors="replace")
                stand_in.write_text(text, encoding="utf-8")
                read = str(stand_in)
        paths.append(read)
    return paths


# Plausible values: times (epoch ms) from 2015-01-01 UTC to a day after the run, accelerations
# within +-16, distances from 0 to 10,000; a valid line outside them is quarantined.
_EARLIEST_TIME_MS = 1_420_070_400_000
_FUTURE_ALLOWANCE_MS = 24 * 3_600_000
_MEASURES = {
    **dict.fromkeys(
        ("registrationDate", "lastUpdateDate", "shareWithResearchAsOfDate",
         "shareWithPublicAsOfDate", "shareWithFriendsAsOfDate", "timestamp",
         "sensorReadingTime"),
        "time",
    ),
    **dict.fromkeys(("x", "y", "z"), "acceleration"),
    "distanceFromObject": "distance",
}  # fmt: skip


@dataclass(frozen=True)
class _Times:
    """The plausible times of a run: from `earliest_ms` to a day after `now_ms`."""

    earliest_ms: int
    now_ms: int


def _plausible_range(field: Field, times: _Times) -> str | None:
    """SQL `BETWEEN low AND high` of a measured field's plausible values, else None."""
    latest = times.now_ms + _FUTURE_ALLOWANCE_MS
    ranges = {
        "time": f"BETWEEN {times.earliest_ms} AND {latest}",
        "acceleration": "BETWEEN -16.0 AND 16.0",
        "distance": "BETWEEN 0 AND 10000",
    }
    return ranges[_MEASURES[field.name]] if field.name in _MEASURES else None


def _classify_source(
    con: duckdb.DuckDBPyConnection, source: str, files: list[Path], scratch: Path, times: _Times
) -> None:
    """Create tables ``files_<source>`` (file_id, source_file) and ``cls_<source>``: every
    line of the source's files, classified (columns as :func:`_fast_sql`; status 0 blank,
    1 quarantined, 2 valid).

    The lines are first materialised (``lines_<source>``): the classification then scans a
    table, which DuckDB splits evenly over its threads (see the module docstring).
    """
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE files_{source} (file_id INTEGER, source_file VARCHAR)"
    )
    if files:
        con.executemany(
            f"INSERT INTO files_{source} VALUES (?, ?)", [[i, str(f)] for i, f in enumerate(files)]
        )
    check_utf8 = False
    while True:
        paths = _readable_paths(con, files, scratch, check_utf8)
        sizes = {path: Path(path).stat().st_size for path in paths}
        by_size = sorted(enumerate(paths), key=lambda item: sizes[item[1]], reverse=True)
        buckets: list[list[tuple[int, str]]] = [[] for _ in range(min(_MAX_SCANS, len(paths)))]
        totals = [0] * len(buckets)
        for item in by_size:  # largest first, each to the lightest bucket
            lightest = totals.index(min(totals))
            buckets[lightest].append(item)
            totals[lightest] += sizes[item[1]]
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE lines_{source} AS {_lines_sql(buckets)}")
            break
        except duckdb.InvalidInputException as error:
            if check_utf8 or "UTF-8" not in str(error):
                raise
            check_utf8 = True
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE cls_{source} AS "
        f"{_fast_sql(source, f'SELECT * FROM lines_{source}', times)}"
    )
    con.execute(f"DROP TABLE lines_{source}")
    rest = f"SELECT file_id, line_number, line FROM cls_{source} WHERE status = 3"
    con.execute(f"INSERT INTO cls_{source} {_general_sql(source, rest, times)}")
    con.execute(f"DELETE FROM cls_{source} WHERE status = 3")
    # Duplicate keys below the top level, in lines with unknown fields (the known fields of a
    # valid line are scalars): json_tree lists every member with its parent's id.
    con.execute(f"""
        UPDATE cls_{source}
        SET status = 1, reason = 'invalid JSON: duplicate key in a nested object',
            tree_doc = NULL
        WHERE rowid IN (
            SELECT c.rowid FROM cls_{source} c, json_tree(c.tree_doc) j
            WHERE c.tree_doc IS NOT NULL
            GROUP BY c.rowid, j.parent, j.key HAVING count(*) > 1)
    """)


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    """Write the query's rows to one Parquet file; return how many."""
    path.unlink(missing_ok=True)
    # No dictionary: DuckDB's Parquet dictionary holds one of 0.0 and -0.0 for both.
    options = "FORMAT parquet, DICTIONARY_SIZE_LIMIT 0"
    return con.execute(f"COPY ({query}) TO {_q(str(path))} ({options})").fetchone()[0]


def _counts(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, int]:
    row = con.execute(f"""
        SELECT count(*) FILTER (WHERE status = 0), count(*) FILTER (WHERE status = 1),
               count(*) FILTER (WHERE status = 2)
        FROM cls_{source}""").fetchone()
    blank, quarantined, valid = row
    return {"blank_lines": blank, "quarantined": quarantined, "valid": valid}


def run_contract(
    landing_root: Path,
    out_dir: Path,
    policy: str = "since_consent",
    threads: int | None = None,
    memory_limit: str | None = None,
    earliest_time_ms: int = _EARLIEST_TIME_MS,
) -> dict[str, int]:
    """Compute every table of the contract for lake ``landing_root`` into ``out_dir``.

    ``earliest_time_ms``: the earliest plausible time (2015-01-01 UTC by default).

    Writes ``out_dir/<table>.parquet`` for the five zone tables and the three quarantine
    tables; returns their row counts plus the accounting (``"<trusted table>.<count>"``).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown consent policy {policy!r}; expected one of {POLICIES}")
    landing_root, out_dir = Path(landing_root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    since = "true" if policy == "since_consent" else "false"
    times = _Times(earliest_time_ms, int(time.time() * 1000))
    result: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="duckdb-contract-") as tmp:
        scratch, spill = Path(tmp) / "files", Path(tmp) / "spill"
        scratch.mkdir()
        con = _connect(threads, memory_limit, spill)
        try:
            columns = {s: ", ".join(_ident(f.name) for f in SCHEMAS[s]) for s in SOURCES}
            counts = {}
            for source in SOURCES:
                files = landing_files(landing_root / source / "landing")
                _classify_source(con, source, files, scratch, times)
                counts[source] = _counts(con, source)
                result[f"{source}_quarantine"] = _copy(
                    con,
                    f"SELECT f.source_file, c.line_number, c.line, c.reason "
                    f"FROM cls_{source} c JOIN files_{source} f USING (file_id) "
                    "WHERE c.status = 1",
                    out_dir / f"{source}_quarantine.parquet",
                )
                if source == "customer":
                    _customers(con, columns["customer"])
                elif source == "accelerometer":
                    _readings(con, since)
                    con.execute("DROP TABLE cls_accelerometer")

            result["customer_trusted"] = _copy(
                con,
                f"SELECT {columns['customer']} FROM customer_trusted",
                out_dir / "customer_trusted.parquet",
            )
            result["accelerometer_trusted"] = _copy(
                con,
                'SELECT "user", "timestamp", x, y, z FROM acc_distinct WHERE disposition = 0',
                out_dir / "accelerometer_trusted.parquet",
            )
            con.execute("""
                CREATE TEMP TABLE curated_emails AS
                SELECT DISTINCT "user" AS email FROM acc_distinct WHERE disposition = 0""")
            result["customers_curated"] = _copy(
                con,
                f"SELECT {columns['customer']} FROM customer_trusted "
                "WHERE email IN (SELECT email FROM curated_emails)",
                out_dir / "customers_curated.parquet",
            )
            _steps(con, since)
            result["step_trainer_trusted"] = _copy(
                con,
                'SELECT "sensorReadingTime", "serialNumber", "distanceFromObject" '
                "FROM step_distinct WHERE disposition = 0",
                out_dir / "step_trainer_trusted.parquet",
            )
            result["machine_learning_curated"] = _copy(
                con,
                """SELECT s."sensorReadingTime", s."serialNumber", s."distanceFromObject",
                          a.x, a.y, a.z
                   FROM step_distinct s JOIN acc_distinct a
                     ON a."user" = s.owner AND a."timestamp" = s."sensorReadingTime"
                   WHERE s.disposition = 0 AND a.disposition = 0""",
                out_dir / "machine_learning_curated.parquet",
            )
            result.update(_accounting(con, counts, result))
        finally:
            con.close()
    return result


def _customers(con: duckdb.DuckDBPyConnection, columns: str) -> None:
    """current_records (every email's current record) and customer_trusted."""
    con.execute("""
        CREATE TEMP TABLE current_records AS
        SELECT * FROM cls_customer WHERE status = 2
        QUALIFY row_number() OVER (
            PARTITION BY email ORDER BY "lastUpdateDate" DESC, line DESC) = 1""")
    con.execute(f"""
        CREATE TEMP TABLE customer_trusted AS
        SELECT {columns} FROM current_records
        WHERE "shareWithResearchAsOfDate" IS NOT NULL""")


def _readings(con: duckdb.DuckDBPyConnection, since: str) -> None:
    """acc_distinct: distinct valid readings, disposition 0 kept, 1 no_consent, 2 before."""
    con.execute(f"""
        CREATE TEMP TABLE acc_distinct AS
        SELECT d.*,
          CASE WHEN c.email IS NULL THEN 1
               WHEN {since} AND d."timestamp" < c."shareWithResearchAsOfDate" THEN 2
               ELSE 0 END::UTINYINT AS disposition
        FROM (SELECT DISTINCT "user", "timestamp", x, y, z
              FROM cls_accelerometer WHERE status = 2) d
        LEFT JOIN customer_trusted c ON d."user" = c.email""")


def _steps(con: duckdb.DuckDBPyConnection, since: str) -> None:
    """step_distinct: distinct valid step readings with owner and disposition
    (0 kept, 1 withheld, 2 no_consent, 3 before_consent)."""
    con.execute(f"""
        CREATE TEMP TABLE step_distinct AS
        WITH carriers AS (
            SELECT "serialNumber", count(DISTINCT email) AS emails, any_value(email) AS owner
            FROM current_records GROUP BY "serialNumber"),
        owners AS (
            SELECT s.*, c.emails,
                   CASE WHEN c.emails = 1 THEN c.owner END AS owner
            FROM (SELECT DISTINCT "sensorReadingTime", "serialNumber", "distanceFromObject"
                  FROM cls_step_trainer WHERE status = 2) s
            LEFT JOIN carriers c USING ("serialNumber"))
        SELECT o."sensorReadingTime", o."serialNumber", o."distanceFromObject", o.owner,
          CASE WHEN o.emails >= 2 THEN 1
               WHEN o.owner IS NULL OR o.owner NOT IN (SELECT email FROM curated_emails) THEN 2
               WHEN {since} AND o."sensorReadingTime" < t."shareWithResearchAsOfDate" THEN 3
               ELSE 0 END::UTINYINT AS disposition
        FROM owners o LEFT JOIN customer_trusted t ON t.email = o.owner""")


def _accounting(
    con: duckdb.DuckDBPyConnection, counts: dict[str, dict[str, int]], tables: dict[str, int]
) -> dict[str, int]:
    def dispositions(table: str, names: tuple[str, ...]) -> dict[str, int]:
        rows = dict(
            con.execute(f"SELECT disposition, count(*) FROM {table} GROUP BY ALL").fetchall()
        )
        return {name: rows.get(code, 0) for code, name in enumerate(names)}

    customer, readings, steps = (counts[s] for s in SOURCES)
    (current,) = con.execute("SELECT count(*) FROM current_records").fetchone()
    acc = dispositions("acc_distinct", ("kept", "no_consent", "before_consent"))
    step = dispositions("step_distinct", ("kept", "withheld", "no_consent", "before_consent"))
    distinct_acc = sum(acc.values())
    distinct_step = sum(step.values())
    accounting = {
        "customer_trusted": {
            "lines_read": customer["quarantined"] + customer["valid"],
            "kept": tables["customer_trusted"],
            "quarantined": customer["quarantined"],
            "superseded": customer["valid"] - current,
            "no_consent": current - tables["customer_trusted"],
            "erased": 0,  # the benchmark's lakes have no erasure log
            "blank_lines": customer["blank_lines"],
        },
        "accelerometer_trusted": {
            "lines_read": readings["quarantined"] + readings["valid"],
            "kept": acc["kept"],
            "quarantined": readings["quarantined"],
            "duplicate": readings["valid"] - distinct_acc,
            "no_consent": acc["no_consent"],
            "before_consent": acc["before_consent"],
            "erased": 0,
            "blank_lines": readings["blank_lines"],
        },
        "step_trainer_trusted": {
            "lines_read": steps["quarantined"] + steps["valid"],
            "kept": step["kept"],
            "quarantined": steps["quarantined"],
            "duplicate": steps["valid"] - distinct_step,
            "withheld": step["withheld"],
            "no_consent": step["no_consent"],
            "before_consent": step["before_consent"],
            "erased": 0,
            "blank_lines": steps["blank_lines"],
        },
    }
    return {
        f"{table}.{name}": value
        for table, values in accounting.items()
        for name, value in values.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing_root", type=Path, help="lake root holding <source>/landing/")
    parser.add_argument("out_dir", type=Path, help="where <table>.parquet files are written")
    parser.add_argument("--policy", default="since_consent", choices=POLICIES)
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 4GB")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = run_contract(
        args.landing_root, args.out_dir, args.policy, args.threads, args.memory_limit
    )
    elapsed = time.perf_counter() - started
    for name, value in counts.items():
        print(f"{name:<45} {value:>12,}")
    print(f"duckdb {duckdb.__version__}, policy {args.policy}: {elapsed:.2f} s")


if __name__ == "__main__":
    main()
