"""The lake's layout: every path is derived from one root, so the same code runs on a folder or S3.

The layout is the one STEDI's S3 bucket already uses (`customer/landing/`, `customer/trusted`, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LANDING_SOURCES = ("customer", "accelerometer", "step_trainer")


@dataclass(frozen=True)
class LakeLayout:
    """A lake root and the URIs Spark uses for each zone of it."""

    root: str

    @property
    def is_s3(self) -> bool:
        return self.root.startswith(("s3://", "s3a://"))

    @property
    def storage_kind(self) -> str:
        """The Dagster kind of the lake's storage: `s3` or `file`."""
        return "s3" if self.is_s3 else "file"

    @property
    def base_uri(self) -> str:
        """The root as Spark addresses it: `s3a://` for S3, an absolute path for a folder."""
        if self.is_s3:
            return "s3a://" + self.root.split("://", 1)[1].rstrip("/")
        if "://" in self.root:
            return self.root.rstrip("/")
        return str(Path(self.root).resolve())

    def uri(self, relative_path: str) -> str:
        return f"{self.base_uri}/{relative_path}"

    def landing(self, source: str) -> str:
        """The folder of newline-delimited JSON files a source lands in."""
        if source not in LANDING_SOURCES:
            raise ValueError(
                f"unknown landing source {source!r}; expected one of {LANDING_SOURCES}"
            )
        return self.uri(f"{source}/landing")

    def quarantine(self, source: str) -> str:
        """The Delta table of the source's landing lines that broke the contract."""
        return self.uri(f"{source}/quarantine")

    def parsed(self, source: str) -> str:
        """The Delta table of the valid records read from a source's landing files (distinct
        readings; every customer record), of every customer: what an increment's new lines
        are compared with."""
        if source not in LANDING_SOURCES:
            raise ValueError(f"no parsed records of {source!r}; expected one of {LANDING_SOURCES}")
        return self.uri(f"{source}/parsed")
