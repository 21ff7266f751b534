"""What a zone table was built from, recorded in the Delta commit that publishes it.

A table is a function of its inputs: the landing files it parses (each file's key, size and
content fingerprint, as `storage.landing_store` lists them), the versions of the upstream tables it
reads, the settings that shape it and the project's code. Each publish commit carries a
`BuildRecord` of those inputs (as Delta's `userMetadata`); a later run whose inputs hash the
same publishes nothing, parses no file and adds no Delta version, because a rebuild would give
the same rows.

One thing besides the inputs moves a result: time. A line dated after the run's start plus the
allowed future is quarantined, and becomes plausible once the clock catches up with it. The
record keeps the earliest such time of the build; the build is reused only while a run's latest
plausible time is still before it (a line dated 2200 does not stop reuse; one dated tomorrow
does, from tomorrow on).

The record is written in the same commit as the rows, so a run killed before the commit leaves the
previous record in place and the next run rebuilds. Any other commit (an erasure's rewrite)
carries no record, so the run after it rebuilds too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from stedi_assets.storage.landing_store import LandingFile

RECORD_FORMAT = "stedi-build/1"
COMPANION_FORMAT = "stedi-companion/1"


@dataclass(frozen=True)
class BuildInputs:
    """Everything a zone table's rows depend on, apart from the time of the run."""

    landing: dict[str, list[LandingFile]] = field(default_factory=dict)
    """Per landing source the table parses, its files (sorted by key)."""
    upstream: dict[str, int | None] = field(default_factory=dict)
    """Per upstream table (its path in the lake), the Delta version read (None: no table
    yet)."""
    settings: dict[str, str] = field(default_factory=dict)
    """The settings the rows depend on (secrets only as a digest)."""
    versions: dict[str, int | None] = field(default_factory=dict, compare=False)
    """Per upstream table, its latest Delta version (not part of the fingerprint: a rebuild
    with the same rows keeps the inputs the same). An increment reads what changed since the
    versions the published build read."""

    def increment_base(self, source: str | None) -> str:
        """A digest of what an increment needs unchanged: the settings, the code and any other
        landing source. The table's own landing files may grow and its upstream tables change:
        an increment reads what they add or change."""
        landing = {name: files for name, files in self.landing.items() if name != source}
        return BuildInputs(landing, {}, self.settings).fingerprint()

    def fingerprint(self) -> str:
        """A digest of the inputs and of the project's code: equal digests, equal rows."""
        canonical = json.dumps(
            {
                "landing": {
                    source: [[f.key, f.size, f.fingerprint] for f in sorted(files)]
                    for source, files in self.landing.items()
                },
                "upstream": self.upstream,
                "settings": self.settings,
                "code": code_version(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def inputs_of(
    landing: dict[str, list[LandingFile]],
    upstream_commits: Mapping[str, tuple[int, str | None] | None],
    settings: dict[str, str],
) -> BuildInputs:
    """A build's inputs from its landing listing, the latest commit (version, `userMetadata`)
    of each table it reads, by path, and the settings. An upstream table is keyed by its rows'
    content when its commit recorded it (a rebuild that gave the same rows changes nothing
    downstream), otherwise by its version (an erasure's rewrite)."""
    upstream: dict[str, int | str | None] = {}
    versions: dict[str, int | None] = {}
    for path, commit in upstream_commits.items():
        record = BuildRecord.from_json(commit[1]) if commit else None
        versions[path] = commit[0] if commit else None
        upstream[path] = record.content if record and record.content else versions[path]
    return BuildInputs(landing, upstream, settings, versions)


def secret_digest(secret: str | None) -> str:
    """A setting that is a secret (the erasure salt), as a one-way digest: a change of the
    secret changes the inputs, and the record never holds it."""
    if secret is None:
        return "unset"
    return hashlib.sha256(b"stedi build input\0" + secret.encode()).hexdigest()


ROW_SHAPING = (
    "contract",
    "tables",
    "publishing",
    "storage",
    "erasure",
    "builds",
    "settings.py",
)
"""The package's parts a table's rows can depend on. The tools (CLI, progress, summary, sample
data, demos) and the Dagster wiring (assets, sensor, definitions) are not among them: editing
them rebuilds nothing."""


def row_shaping_digest(package: Path) -> str:
    """A digest of `package`'s sources that shape rows (`ROW_SHAPING`), by path and content."""
    sources = {
        source
        for part in ROW_SHAPING
        for source in ([package / part] if part.endswith(".py") else (package / part).rglob("*.py"))
    }
    digest = hashlib.sha256()
    for source in sorted(sources):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def code_version() -> str:
    """The build's code version: a change to a source that shapes rows rebuilds every table (the
    conservative choice: no hand-kept version number can go stale); a change to a tool does not."""
    return row_shaping_digest(Path(__file__).parents[1])


@dataclass(frozen=True)
class BuildRecord:
    """What a publish commit says about the build it published. No personal data: counts,
    check outcomes and a digest."""

    inputs: str
    """`BuildInputs.fingerprint()` of the build."""
    first_future_time_ms: int | None
    """The earliest time in the landing lines read that was after the latest plausible time
    (epoch milliseconds), or None when there was none."""
    row_count: int
    checks: dict[str, tuple[bool, str]]
    """Per check name, whether it passed and its severity (`ERROR`, `WARN`)."""
    accounting: dict[str, int] | None = None
    """A trusted table's accounting of landing lines, as its metadata shows it."""
    content: str | None = None
    """A digest of the published rows as a multiset (`write._content_digest`): tables that read this
    one key it by its content, so a rebuild that gives the same rows rebuilds nothing
    downstream."""
    content_sums: list[str] | None = None
    """The two exact sums behind `content`, as decimal strings: an increment adds those of the
    rows it adds and subtracts those of the rows it removes."""
    increment_base: str | None = None
    """`BuildInputs.increment_base` of the build: an increment needs it unchanged."""
    increment_files: list[list[str | int]] | None = None
    """For a trusted table: its own landing files as built (key, size, fingerprint)."""
    upstream_versions: dict[str, int | None] | None = None
    """The Delta version of each upstream table the build read: an increment reads what
    changed since."""
    kind: str = "build"
    """`build` (the table replaced) or `increment` (rows added, and rows of some keys
    removed)."""
    removed_rows: int = 0
    """Rows an increment removed (0 for a build): a reader of this table's changes knows from
    this alone whether they were only additions."""
    added_rows: int = 0
    """Rows the commit added (a build: every row): a reader of the table's changes knows how
    many it will read."""
    charts: dict[str, list[int]] | None = None
    """The counts of the table's charts (customers by number of readings), by metadata key: an
    increment that only adds rows changes them rather than counting the whole table again."""

    def landing_files(self) -> set[LandingFile]:
        return {LandingFile(str(k), int(s), str(f)) for k, s, f in self.increment_files or []}

    def to_json(self) -> str:
        return json.dumps({"format": RECORD_FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> BuildRecord | None:
        """The record in a commit's `userMetadata`, or None when the commit has none (or one
        this code does not understand, which then only costs a rebuild)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.pop("format", None) != RECORD_FORMAT:
                return None
            checks = {
                name: (bool(passed), str(severity))
                for name, (passed, severity) in data.pop("checks").items()
            }
            return cls(checks=checks, **data)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def companion_marker(inputs_fingerprint: str) -> str:
    """The `userMetadata` of a write that goes with a table's publication (its quarantine, its
    read records): an increment builds on them only when they carry the table's record's
    fingerprint, i.e. when no run stopped between writing them and the table."""
    return json.dumps({"format": COMPANION_FORMAT, "inputs": inputs_fingerprint})


def is_companion_marker(user_metadata: str | None) -> bool:
    """Whether a commit's `userMetadata` is a companion's marker (`companion_marker`)."""
    try:
        return json.loads(user_metadata or "").get("format") == COMPANION_FORMAT
    except (ValueError, AttributeError):
        return False


def reusable(record: BuildRecord, inputs: BuildInputs, latest_time_ms: int) -> bool:
    """True when the published build's rows are what a build from `inputs` would give in a run
    whose latest plausible time is `latest_time_ms`."""
    if record.inputs != inputs.fingerprint():
        return False
    future = record.first_future_time_ms
    return future is None or latest_time_ms < future


def added_files(
    record: BuildRecord, inputs: BuildInputs, source: str | None, latest_time_ms: int
) -> list[LandingFile] | None:
    """The files of `source` (a trusted table's own landing source; None for a curated table)
    added since the published build, when the build can grow by an increment: the settings,
    the code and any other landing source are the same, every file the build read is still
    there unchanged, and no line it met has become plausible since. Then the published rows,
    changed by what those files add and by what changed upstream, are what a full build would
    give. None otherwise; an empty list when no file was added."""
    if record.increment_base is None or record.increment_base != inputs.increment_base(source):
        return None
    future = record.first_future_time_ms
    if future is not None and latest_time_ms >= future:
        return None
    if source is None:
        return []
    if record.increment_files is None:
        return None
    built_from = record.landing_files()
    current = set(inputs.landing.get(source, []))
    if not built_from <= current:
        return None
    return sorted(current - built_from)
