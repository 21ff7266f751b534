"""One view of the lake's files, whether the lake is a local folder or S3.

Every listing of landing files goes through it: the sensor's, the build record's and the
erasure's, so all three see the same files, the same way. A file's fingerprint changes whenever
its content can have changed (the ETag on S3; on a folder, the inode and the modification and
change times in nanoseconds: a rewrite that keeps the size and puts the modification time back,
as `cp -p` or `touch -r` do, still moves the change time, which no program can set). Spark then
reads exactly the files listed, by path (`contract.landing.read_landing_lines`).

Hidden files follow one rule (`is_hidden`) for the sensor, the builds and the reference: names
starting with `.` or `_` (`_SUCCESS`, a half-written `.part`) and names ending in `._COPYING_`
(a copy in progress) are not landing data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stedi_assets.storage.lake import LakeLayout

COPYING_SUFFIX = "._COPYING_"


@dataclass(frozen=True, order=True)
class LandingFile:
    """A landing file: its key under the lake root, its size and a fingerprint of its content
    (ETag on S3; inode, modification and change times on a folder) that changes when it is
    rewritten."""

    key: str
    size: int
    fingerprint: str

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def is_hidden(name: str) -> bool:
    """Whether a file of a landing folder is not landing data (see the module's docstring)."""
    return name.startswith((".", "_")) or name.endswith(COPYING_SUFFIX)


class LandingStore(Protocol):
    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        """Every visible (or every) file of a source's landing folder, sorted by key."""
        ...

    def has_folder(self, source: str) -> bool:
        """Whether the source's landing folder exists (on S3: holds any object)."""
        ...

    def list_keys(self, prefix: str, start_after: str = "") -> list[str]:
        """The keys of the files directly under the folder `prefix` (ending in `/`), sorted,
        those after `start_after` only when it is given."""
        ...

    def read(self, key: str) -> bytes:
        """The content of a listed file."""
        ...

    def read_if_exists(self, key: str) -> bytes | None:
        """The content of a file, or None when there is none at `key`."""
        ...

    def write(self, source: str, name: str, data: bytes) -> None:
        """Put a file into a source's landing folder, replacing any file of that name whole."""
        ...


def _landing_prefix(source: str) -> str:
    return f"{source}/landing/"


@dataclass(frozen=True)
class FolderLandingStore:
    root: Path

    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        folder = self.root / _landing_prefix(source)
        if not folder.is_dir():
            return []
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file() and (include_hidden or not is_hidden(entry.name)):
                    stat = entry.stat()
                    fingerprint = f"{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"
                    key = _landing_prefix(source) + entry.name
                    files.append(LandingFile(key, stat.st_size, fingerprint))
        return sorted(files)

    def has_folder(self, source: str) -> bool:
        return (self.root / _landing_prefix(source)).is_dir()

    def list_keys(self, prefix: str, start_after: str = "") -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        with os.scandir(folder) as entries:
            keys = [prefix + entry.name for entry in entries if entry.is_file()]
        return sorted(key for key in keys if key > start_after)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def read_if_exists(self, key: str) -> bytes | None:
        try:
            return self.read(key)
        except FileNotFoundError:
            return None

    def write(self, source: str, name: str, data: bytes) -> None:
        """Written beside the file under a hidden name, then renamed over it: a reader sees
        the old content or the new, never part of either."""
        folder = self.root / _landing_prefix(source)
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

    def _relative(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def _objects(self, folder: str, start_after: str = "", **options: Any) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        if start_after:
            options["StartAfter"] = self._key(start_after)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(folder), **options):
            yield from page.get("Contents", [])

    def list_files(self, source: str, include_hidden: bool = False) -> list[LandingFile]:
        files = []
        for item in self._objects(_landing_prefix(source)):
            relative = self._relative(item["Key"])
            name = relative.removeprefix(_landing_prefix(source))
            # s3a writes zero-byte "folder" keys ending in `/`; sub-folders are not landing.
            if name and "/" not in name and (include_hidden or not is_hidden(name)):
                files.append(LandingFile(relative, item["Size"], item["ETag"].strip('"')))
        return sorted(files)

    def has_folder(self, source: str) -> bool:
        return next(self._objects(_landing_prefix(source), MaxKeys=1), None) is not None

    def list_keys(self, prefix: str, start_after: str = "") -> list[str]:
        keys = (self._relative(item["Key"]) for item in self._objects(prefix, start_after))
        return sorted(key for key in keys if "/" not in key.removeprefix(prefix))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def read_if_exists(self, key: str) -> bytes | None:
        try:
            return self.read(key)
        except self.client.exceptions.NoSuchKey:
            return None

    def write(self, source: str, name: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(_landing_prefix(source) + name), Body=data
        )


def landing_store(lake: LakeLayout, s3_client_factory: Any) -> LandingStore:
    """The store for the lake's root; `s3_client_factory()` is only called for S3 roots."""
    if lake.is_s3:
        bucket, _, prefix = lake.root.split("://", 1)[1].partition("/")
        return S3LandingStore(s3_client_factory(), bucket, prefix.strip("/"))
    return FolderLandingStore(Path(lake.root))
