"""The package's shape, as `docs/architecture.md` draws it: which layer may import which, no
import cycle, and a build's code version that only the sources shaping rows can change."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from stedi_assets.publishing.build_inputs import row_shaping_digest

PACKAGE = Path(__file__).parents[1] / "stedi_assets"

RANKS = {
    "contract": 0,
    "storage": 1,
    "tables": 2,
    "erasure": 3,
    "publishing": 3,
    "audit": 3,
    "builds": 4,
    "orchestration": 5,
    "definitions": 6,
    "tools": 7,
    "__main__": 8,
}
"""The layers, lowest first (docs/architecture.md). A module imports its own layer, the
settings, or a layer of a lower rank: never one above it, nor one beside it."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_at_load(path: Path) -> set[str]:
    """The package's modules `path` imports when it loads (module level, outside
    `if TYPE_CHECKING:`); imports inside functions run later and cannot form a load cycle."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    modules = {module_name(source) for source in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != module_name(path)}


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imports_at_load(path) for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    """The module's folder (or file) under the package; "" for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_import_only_the_layers_below_them() -> None:
    wrong = {
        (module, imported)
        for module, imported_modules in import_graph().items()
        for imported in imported_modules
        if layer(imported) != layer(module)
        and layer(imported) in RANKS
        and RANKS[layer(imported)] >= RANKS[layer(module)]
    }
    assert wrong == set()


def test_every_module_is_in_a_layer() -> None:
    assert {layer(module) for module in import_graph()} - set(RANKS) == {"", "settings"}


def test_the_contract_is_rules_only() -> None:
    """The contract imports nothing of the package but itself and the settings' ranges."""
    outside = {
        (module, imported)
        for module, imported_modules in import_graph().items()
        if layer(module) == "contract"
        for imported in imported_modules
        if layer(imported) != "contract"
    }
    assert outside == set()


def test_nothing_in_the_pipeline_imports_the_tools() -> None:
    users = {
        module
        for module, imported_modules in import_graph().items()
        if layer(module) not in ("tools", "__main__")
        and any(layer(imported) == "tools" for imported in imported_modules)
    }
    assert users == set()


def test_no_import_cycle() -> None:
    graph = import_graph()
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph[module]):
            if imported in path:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in done:
                visit(imported, [*path, imported])
        done.add(module)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []


LONGEST_FUNCTION = 60
DECLARATIVE = {"tools/cli.py:parser"}
"""Functions that are a table, not steps: the CLI's arguments, one declaration a line."""


def test_no_function_is_longer_than_a_screen() -> None:
    long = {
        f"{path.relative_to(PACKAGE).as_posix()}:{node.name}": node.end_lineno - node.lineno + 1
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > LONGEST_FUNCTION
    }
    assert set(long) - DECLARATIVE == set(), long


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "stedi_assets"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize(
    "tool",
    [
        "tools/cli.py",
        "tools/sample_data.py",
        "tools/progress.py",
        "definitions.py",
        "orchestration/trusted.py",
    ],
)
def test_editing_a_tool_rebuilds_nothing(package_copy: Path, tool: str) -> None:
    before = row_shaping_digest(package_copy)
    (package_copy / tool).write_text((package_copy / tool).read_text() + "\n# a new help text\n")
    assert row_shaping_digest(package_copy) == before


@pytest.mark.parametrize(
    "rule",
    [
        "contract/customers.py",
        "tables/trusted_schemas.py",
        "publishing/flow.py",
        "builds/curated.py",
        "settings.py",
    ],
)
def test_editing_a_rule_rebuilds_the_tables(package_copy: Path, rule: str) -> None:
    before = row_shaping_digest(package_copy)
    (package_copy / rule).write_text((package_copy / rule).read_text() + "\n# a changed rule\n")
    assert row_shaping_digest(package_copy) != before
