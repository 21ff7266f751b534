"""STEDI lakehouse: landing JSON to trusted and curated Delta tables, as Dagster assets on PySpark.

`defs` (what `dagster ... -m stedi_assets` loads) is imported on first use, so the package's
light commands, such as `stedi sample-data`, start without Dagster or Spark.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from stedi_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'stedi_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["defs"]
