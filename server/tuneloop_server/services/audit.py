"""The audit log: who created, cancelled, deleted or promoted what, and admin actions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..auth.principal import Principal
from ..store import TenantStore
from ..store.records import AuditRecord


class AuditLog:
    def __init__(self, store: TenantStore):
        self.store = store

    async def record(self, actor: Principal, action: str, resource: str, *,
                     tenant_id: str | None = None, **detail: Any) -> None:
        """Append one entry. `tenant_id` defaults to the actor's tenant (admins name it)."""
        entry = AuditRecord(tenant_id=tenant_id or actor.tenant_id, actor=actor.key_id,
                            action=action, resource=resource, detail=detail, created_at=time.time())
        await asyncio.to_thread(self.store.record_audit, entry)

    async def list(self, tenant_id: str | None, limit: int) -> list[AuditRecord]:
        return await asyncio.to_thread(self.store.list_audit, tenant_id, limit)
