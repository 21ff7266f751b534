"""Shared fixtures: one real SparkSession (with Delta) for the whole test session, and lakes."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from stedi_assets_tests.lakes import TEST_SPARK_CONFIG


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    builder = SparkSession.builder
    for key, value in TEST_SPARK_CONFIG.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


LandingWriter = Callable[[str, str, list[object]], Path]


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def write_landing(lake_root: Path) -> LandingWriter:
    """Write a landing file: dicts become JSON lines, strings are written as they are."""

    def write(source: str, name: str, lines: list[object]) -> Path:
        folder = lake_root / source / "landing"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        text = "".join(
            (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
        )
        path.write_text(text, encoding="utf-8")
        return path

    return write
