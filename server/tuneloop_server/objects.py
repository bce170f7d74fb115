"""The ObjectStore seam: datasets, checkpoints and adapters as keyed blobs.

The local-directory store is the zero-config default; an S3/MinIO store implements the
same Protocol. Keys are '/'-separated and never start with '/'.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol


def tenant_prefix(tenant_id: str) -> str:
    """Where every object a tenant owns lives: datasets, checkpoints, adapters."""
    return f"tenants/{tenant_id}"


class ObjectStore(Protocol):
    def put_stream(self, key: str, source: BinaryIO) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def put_dir(self, prefix: str, directory: Path) -> None: ...
    def get_dir(self, prefix: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]:
        """Every object key under `prefix`, sorted."""
    def delete_prefix(self, prefix: str) -> None: ...


class LocalObjectStore:
    """Objects as files under one root directory; every write lands atomically."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"object key {key!r} escapes the store")
        return path

    def put_stream(self, key: str, source: BinaryIO) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path) -> None:
        with open(path, "rb") as source:
            self.put_stream(key, source)

    def get_file(self, key: str, dest: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"object {key!r} not found")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)

    def put_dir(self, prefix: str, directory: Path) -> None:
        for path in sorted(Path(directory).rglob("*")):
            if path.is_file():
                self.put_file(f"{prefix.rstrip('/')}/{path.relative_to(directory).as_posix()}", path)

    def get_dir(self, prefix: str, dest: Path) -> None:
        source = self._path(prefix)
        if not source.is_dir():
            raise FileNotFoundError(f"object prefix {prefix!r} not found")
        shutil.copytree(source, dest, dirs_exist_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        root = self.root.resolve()
        return sorted(p.relative_to(root).as_posix() for p in base.rglob("*")
                      if p.is_file() and not p.name.startswith(".upload-"))

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
