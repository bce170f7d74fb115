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
    promoted: int | None = None  # None: nothing promoted explicitly, plain name = newest

    @property
    def latest_version(self) -> int:
        return self.versions[-1].version

    @property
    def promoted_version(self) -> int:
        return self.promoted or self.latest_version


class AdapterService:
    def __init__(self, store: JobStore, objects: ObjectStore, serving: ServingManager,
                 audit: AuditLog):
        self.store = store
        self.objects = objects
        self.serving = serving
        self.audit = audit

    async def list(self, caller: Principal) -> list[AdapterView]:
        records = await asyncio.to_thread(self.store.list_adapter_versions, caller.tenant, None)
        groups = [list(group) for _, group in groupby(records, key=lambda r: r.name)]
        return [await self._view(caller.tenant, group) for group in groups]

    async def get(self, caller: Principal, name: str) -> AdapterView:
        records = await asyncio.to_thread(self.store.list_adapter_versions, caller.tenant, name)
        if not records:
            raise NotFound(f"adapter {name!r} not found")
        return await self._view(caller.tenant, records)

    async def promote(self, caller: Principal, name: str, version: int) -> AdapterView:
        """Serve `version` under plain `name` from now on (roll back or forward)."""
        view = await self.get(caller, name)
        if version not in {v.version for v in view.versions}:
            have = ", ".join(f"v{v.version}" for v in view.versions)
            raise NotFound(f"adapter {name!r} has no version v{version} (it has {have})")
        await asyncio.to_thread(self.store.set_promoted_version, caller.tenant, name, version)
        await self.audit.record(caller, "adapter.promote", name, version=version,
                                previous=view.promoted_version)
        return await self.get(caller, name)

    async def _view(self, tenant: str, records: list[AdapterVersionRecord]) -> AdapterView:
        state = await asyncio.to_thread(self.store.get_adapter_state, tenant, records[0].name)
        return AdapterView(name=records[0].name, base_model=records[-1].base_model, versions=records,
                           promoted=state.promoted_version if state else None)

    async def delete(self, caller: Principal, name: str) -> None:
        view = await self.get(caller, name)
        await asyncio.to_thread(self.store.delete_adapter, caller.tenant, name)
        for version in view.versions:
            await self.serving.unload(version.base_model, version.job_id)
            await asyncio.to_thread(self.objects.delete_prefix, version.object_key)
        await self.audit.record(caller, "adapter.delete", name,
                                versions=[v.version for v in view.versions])
