"""Dataset uploads: stream to a temp file while hashing, verify, validate, store."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Union

from tuneloop_worker.data_format import validate_jsonl

from ..auth.principal import Principal
from ..auth.quotas import QuotaPolicy
from ..config import ServerSettings
from ..errors import InvalidArgument, NotFound
from ..ids import new_id
from ..objects import ObjectStore, tenant_prefix
from ..store import JobStore
from ..store.records import DatasetRecord, DatasetStatus, LineError
from .audit import AuditLog


@dataclass(frozen=True)
class UploadStart:
    name: str
    filename: str
    size_bytes: int


@dataclass(frozen=True)
class UploadEnd:
    sha256: str


UploadPart = Union[UploadStart, bytes, UploadEnd]


class DatasetService:
    def __init__(self, store: JobStore, objects: ObjectStore, settings: ServerSettings,
                 quotas: QuotaPolicy, audit: AuditLog):
        self.store = store
        self.objects = objects
        self.settings = settings
        self.quotas = quotas
        self.audit = audit

    async def upload(self, caller: Principal, parts: AsyncIterator[UploadPart]) -> DatasetRecord:
        start = await anext(parts, None)
        if not isinstance(start, UploadStart):
            raise InvalidArgument("the first upload message must be a header (name, filename, size_bytes)")
        _check_header(start, self.settings.max_upload_bytes)
        # Checked against the announced size before any byte is stored, and again at the end.
        await asyncio.to_thread(self.quotas.check_storage, self.store, caller.tenant, start.size_bytes)
        scratch = Path(tempfile.mkdtemp(prefix="tuneloop-upload-"))
        try:
            path = scratch / "data.jsonl"
            digest = await self._receive(parts, path, start)
            record = await asyncio.to_thread(self._store_upload, caller.tenant, start, path, digest)
        finally:
            await asyncio.to_thread(_rmtree, scratch)
        await self.audit.record(caller, "dataset.upload", record.id, name=record.name,
                                size_bytes=record.size_bytes, status=record.status.value)
        return record

    async def _receive(self, parts: AsyncIterator[UploadPart], path: Path, start: UploadStart) -> str:
        digest = hashlib.sha256()
        received = 0
        with path.open("wb") as out:
            async for part in parts:
                if isinstance(part, UploadEnd):
                    return _verify(digest.hexdigest(), part.sha256, received, start.size_bytes)
                if not isinstance(part, bytes):
                    raise InvalidArgument("upload header sent twice; send it once, first")
                received += len(part)
                if received > start.size_bytes:
                    raise InvalidArgument(
                        f"received more than the {start.size_bytes} bytes announced in the header")
                digest.update(part)
                await asyncio.to_thread(out.write, part)
        raise InvalidArgument("upload ended without a trailer carrying the file's sha256")

    def _store_upload(self, tenant_id: str, start: UploadStart, path: Path, sha256: str) -> DatasetRecord:
        with path.open("rb") as f:
            report = validate_jsonl(f, max_line_bytes=self.settings.max_line_bytes,
                                    max_examples=self.settings.max_examples)
        self.quotas.check_storage(self.store, tenant_id, start.size_bytes)
        dataset_id = new_id("ds")
        key = f"{tenant_prefix(tenant_id)}/datasets/{dataset_id}/data.jsonl"
        self.objects.put_file(key, path)
        record = DatasetRecord(
            tenant_id=tenant_id,
            id=dataset_id,
            name=start.name or start.filename or dataset_id,
            status=DatasetStatus.INVALID if report.errors else DatasetStatus.READY,
            format=report.format,
            num_examples=report.num_examples,
            sha256=sha256,
            size_bytes=start.size_bytes,
            object_key=key,
            errors=[LineError(e.line, e.message) for e in report.errors],
            created_at=time.time(),
        )
        self.store.add_dataset(record)
        return record

    async def get(self, caller: Principal, dataset_id: str) -> DatasetRecord:
        record = await asyncio.to_thread(self.store.get_dataset, caller.tenant, dataset_id)
        if record is None:
            raise NotFound(f"dataset {dataset_id!r} not found")
        return record

    async def list(self, caller: Principal) -> list[DatasetRecord]:
        return await asyncio.to_thread(self.store.list_datasets, caller.tenant)

    async def delete(self, caller: Principal, dataset_id: str) -> None:
        record = await self.get(caller, dataset_id)
        await asyncio.to_thread(self.store.delete_dataset, caller.tenant, record.id)
        await asyncio.to_thread(self.objects.delete_prefix, record.object_key.rsplit("/", 1)[0])
        await self.audit.record(caller, "dataset.delete", record.id, name=record.name)


def _check_header(start: UploadStart, limit: int) -> None:
    if start.size_bytes < 0:
        raise InvalidArgument("header.size_bytes must not be negative")
    if start.size_bytes > limit:
        raise InvalidArgument(
            f"header.size_bytes is {start.size_bytes:,} bytes, over the {limit:,}-byte upload limit")
    if len(start.name) > 200:
        raise InvalidArgument("header.name is longer than 200 characters")


def _verify(actual: str, expected: str, received: int, announced: int) -> str:
    if received != announced:
        raise InvalidArgument(
            f"received {received} bytes but the header announced {announced}; upload again")
    if expected.lower() != actual:
        raise InvalidArgument(
            f"sha256 mismatch: the trailer says {expected} but the received bytes hash to {actual}; "
            "the file changed or was corrupted in transit, upload again")
    return actual


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
