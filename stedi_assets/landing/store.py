"""One view of the landing folders, whether the lake is a local folder or S3.

The sensor lists landing files through it and `make demo-s3` uploads through it; Spark reads the
same files by URI. Hidden files (names starting with `.` or `_`, such as `_SUCCESS` or a
half-written `.part`) are skipped, as Spark skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stedi_assets.lake import LakeLayout


@dataclass(frozen=True, order=True)
class LandingFile:
    """A landing file: its key under the lake root, its size and a fingerprint of its content
    (ETag on S3, modification time on a folder) that changes when it is rewritten."""

    key: str
    size: int
    fingerprint: str


def is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


class LandingStore(Protocol):
    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        """Every visible (or every) file of a source's landing folder, sorted by key."""
        ...

    def read(self, key: str) -> bytes:
        """The content of a listed file."""
        ...

    def write(self, source: str, name: str, data: bytes) -> None:
        """Put a file into a source's landing folder, replacing any file of that name whole."""
        ...


@dataclass(frozen=True)
class FolderLandingStore:
    root: Path

    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        folder = self.root / source / "landing"
        if not folder.is_dir():
            return []
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file() and (include_hidden or not is_hidden(entry.name)):
                    stat = entry.stat()
                    key = f"{source}/landing/{entry.name}"
                    files.append(LandingFile(key, stat.st_size, str(stat.st_mtime_ns)))
        return sorted(files)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, source: str, name: str, data: bytes) -> None:
        """Written beside the file under a hidden name, then renamed over it: a reader sees
        the old content or the new, never part of either."""
        folder = self.root / source / "landing"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.writing"
        partial.write_bytes(data)
        partial.replace(folder / name)


@dataclass(frozen=True)
class S3LandingStore:
    client: Any  # a boto3 S3 client, from dagster_aws's S3Resource
    bucket: str
    prefix: str

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _pages(self, source: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=self._key(f"{source}/landing/"))

    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        root_length = len(self.prefix) + 1 if self.prefix else 0
        files = []
        for page in self._pages(source):
            for item in page.get("Contents", []):
                relative = item["Key"][root_length:]
                name = relative.removeprefix(f"{source}/landing/")
                if name and "/" not in name and (include_hidden or not is_hidden(name)):
                    files.append(LandingFile(relative, item["Size"], item["ETag"].strip('"')))
        return sorted(files)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def write(self, source: str, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(f"{source}/landing/{name}"), Body=data
        )


def landing_store(lake: LakeLayout, s3_client_factory: Any) -> LandingStore:
    """The store for the lake's root; `s3_client_factory()` is only called for S3 roots."""
    if lake.is_s3:
        bucket, _, prefix = lake.root.split("://", 1)[1].partition("/")
        return S3LandingStore(s3_client_factory(), bucket, prefix.strip("/"))
    return FolderLandingStore(Path(lake.root))
