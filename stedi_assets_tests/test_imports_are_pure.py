"""Importing any module of the package reads no environment variable and touches no file or
network: settings are read when Dagster loads the definitions (or a command runs), so the same
code serves every environment and a wrong setting fails where it is used."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter: os.environ is replaced by a mapping that records who reads it,
# and an audit hook records file and network access; each is attributed to the innermost frame
# outside the standard library, and counts when that frame is in the package. The import
# system's own reads of module files are not the package's doing and are left out.
PROBE = textwrap.dedent(
    """
    import json, os, pkgutil, sys, sysconfig
    from collections.abc import MutableMapping
    from importlib import import_module
    from pathlib import Path

    import stedi_assets

    PACKAGE = str(Path(stedi_assets.__file__).parent)
    STDLIB = sysconfig.get_paths()["stdlib"]
    found = []

    def culprit():
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith("<frozen importlib") or "/importlib/" in name:
                return None  # the import system reading a module
            if not (name.startswith(STDLIB) or name.startswith("<")):
                return f"{name}:{frame.f_lineno}" if name.startswith(PACKAGE) else None
            frame = frame.f_back
        return None

    class Watched(MutableMapping):
        def __init__(self, original):
            self._original = original
        def _seen(self, key):
            where = culprit()
            if where:
                found.append(["environ", str(key), where])
        def __getitem__(self, key):
            self._seen(key)
            return self._original[key]
        def __contains__(self, key):
            self._seen(key)
            return key in self._original
        def __setitem__(self, key, value):
            self._original[key] = value
        def __delitem__(self, key):
            del self._original[key]
        def __iter__(self):
            self._seen("*")
            return iter(self._original)
        def __len__(self):
            return len(self._original)
        def copy(self):
            return dict(self._original)

    def audit(event, args):
        if event in ("open", "os.listdir", "os.scandir", "glob.glob", "socket.connect"):
            where = culprit()
            if where:
                found.append([event, str(args[0]) if args else "", where])

    os.environ = Watched(os.environ)
    sys.addaudithook(audit)
    modules = [
        info.name
        for info in pkgutil.walk_packages(stedi_assets.__path__, "stedi_assets.")
        if not info.name.endswith("__main__")
    ]
    for name in modules:
        import_module(name)
    imported = list(found)
    # The probe itself: reading a setting from the package's code is seen.
    from stedi_assets import settings
    settings.lake_root()
    print(json.dumps({"modules": modules, "found": imported, "control": found[len(imported):]}))
    """
)


def test_importing_any_module_reads_no_setting_and_touches_no_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        cwd=tmp_path,  # the installed package, and nothing in the working directory
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert len(report["modules"]) > 30 and "stedi_assets.definitions" in report["modules"]
    assert report["found"] == []
    assert [entry[:2] for entry in report["control"]] == [["environ", "STEDI_LAKE"]]


# What each module may pull in: the catalogue, the layout and the shared server are leaves
# (standard library only); the commands that only need to know where tables are stay clear of
# Pandera and Glue.
HEAVY = {"pandera", "delta", "pyspark", "dagster", "boto3", "stedi_assets.storage.glue"}
ALLOWED = {
    "stedi_assets.tables.catalogue": set(),
    "stedi_assets.storage.lake": set(),
    "stedi_assets.tools.shared_spark": set(),
    "stedi_assets.tools.summary": {"dagster"},
    "stedi_assets.tools.sql": {"pyspark"},
    "stedi_assets.erasure.lake": {"pyspark"},
}


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_modules_import_only_what_they_need(module: str, tmp_path: Path) -> None:
    probe = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted({{m for m in sys.modules if m in {sorted(HEAVY)!r}}})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True, text=True, check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert set(json.loads(result.stdout.splitlines()[-1])) == ALLOWED[module]
