"""The adapter registry as users see it: names with numbered versions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import groupby

from ..auth.principal import Principal
from ..errors import NotFound
from ..objects import ObjectStore
from ..store import JobStore
from ..store.records import AdapterVersionRecord
from .audit import AuditLog
from .serving import ServingManager


@dataclass(frozen=True)
class AdapterView:
    name: str
    base_model: str
    versions: list[AdapterVersionRecord]

    @property
    def latest_version(self) -> int:
        return self.versions[-1].version


class AdapterService:
    def __init__(self, store: JobStore, objects: ObjectStore, serving: ServingManager,
                 audit: AuditLog):
        self.store = store
        self.objects = objects
        self.serving = serving
        self.audit = audit

    async def list(self, caller: Principal) -> list[AdapterView]:
        records = await asyncio.to_thread(self.store.list_adapter_versions, caller.tenant, None)
        return [_view(list(group)) for _, group in groupby(records, key=lambda r: r.name)]

    async def get(self, caller: Principal, name: str) -> AdapterView:
        records = await asyncio.to_thread(self.store.list_adapter_versions, caller.tenant, name)
        if not records:
            raise NotFound(f"adapter {name!r} not found")
        return _view(records)

    async def delete(self, caller: Principal, name: str) -> None:
        view = await self.get(caller, name)
        await asyncio.to_thread(self.store.delete_adapter, caller.tenant, name)
        for version in view.versions:
            await self.serving.unload(version.base_model, version.job_id)
            await asyncio.to_thread(self.objects.delete_prefix, version.object_key)
        await self.audit.record(caller, "adapter.delete", name,
                                versions=[v.version for v in view.versions])


def _view(records: list[AdapterVersionRecord]) -> AdapterView:
    return AdapterView(name=records[0].name, base_model=records[-1].base_model, versions=records)
