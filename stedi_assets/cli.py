"""The project's documented commands, for the scripts and tests that run them."""

import sys
from pathlib import Path


def materialize_all_command() -> list[str]:
    """`dagster asset materialize -m stedi_assets --select '*'` with this environment's
    `dagster`: every asset, with every check, in one run."""
    dagster = Path(sys.executable).parent / "dagster"
    return [str(dagster), "asset", "materialize", "-m", "stedi_assets", "--select", "*"]
