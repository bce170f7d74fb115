"""Operators' actions: tenants, quotas, keys and worker tokens. Every change is audited."""

from __future__ import annotations

import asyncio
import re
import time

from ..auth import keys
from ..auth.principal import Principal
from ..auth.quotas import QuotaPolicy
from ..errors import InvalidArgument, NotFound
from ..ids import new_id
from ..store import TenantStore
from ..store.records import ApiKeyRecord, AuditRecord, KeyKind, Quotas, TenantRecord
from .audit import AuditLog

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_AUDIT_EVENTS = 1000


class AdminService:
    def __init__(self, store: TenantStore, quotas: QuotaPolicy, audit: AuditLog):
        self.store = store
        self.quotas = quotas
        self.audit = audit

    async def create_tenant(self, caller: Principal, name: str, quotas: Quotas) -> TenantRecord:
        if not TENANT_NAME.match(name):
            raise InvalidArgument(
                f"name {name!r} is not a valid tenant name: use 1-64 lowercase letters, digits, "
                "'-' or '_', starting with a letter or digit")
        _check_quotas(quotas)
        tenant = TenantRecord(new_id("tn"), name, quotas, time.time())
        await asyncio.to_thread(self.store.create_tenant, tenant)
        await self.audit.record(caller, "tenant.create", name, tenant_id=tenant.id)
        return tenant

    async def tenant(self, id_or_name: str) -> TenantRecord:
        if not id_or_name:
            raise InvalidArgument("tenant is required: a tenant id or name")
        tenant = await asyncio.to_thread(self.store.get_tenant, id_or_name)
        if tenant is None:
            raise NotFound(f"tenant {id_or_name!r} not found")
        return tenant

    async def list_tenants(self) -> list[TenantRecord]:
        return await asyncio.to_thread(self.store.list_tenants)

    async def effective_quotas(self, tenant: TenantRecord) -> Quotas:
        return await asyncio.to_thread(self.quotas.effective, tenant.id)

    async def set_quotas(self, caller: Principal, id_or_name: str, quotas: Quotas) -> TenantRecord:
        tenant = await self.tenant(id_or_name)
        _check_quotas(quotas)
        await asyncio.to_thread(self.store.set_quotas, tenant.id, quotas)
        await self.audit.record(caller, "tenant.set_quotas", tenant.name, tenant_id=tenant.id,
                                **{k: v for k, v in vars(quotas).items() if v is not None})
        return await self.tenant(tenant.id)

    async def create_key(self, caller: Principal, kind: KeyKind, tenant: str,
                         name: str) -> keys.IssuedKey:
        tenant_id = None
        if kind is KeyKind.USER:
            tenant_id = (await self.tenant(tenant)).id
        elif tenant:
            raise InvalidArgument(f"tenant must be empty for a {kind.value} key: only user keys "
                                  "belong to a tenant")
        if len(name) > 200:
            raise InvalidArgument("name is longer than 200 characters")
        issued = keys.issue(kind, tenant_id, name or f"{kind.value} key")
        await asyncio.to_thread(self.store.add_api_key, issued.record)
        await self.audit.record(caller, "key.create", issued.record.id, tenant_id=tenant_id,
                                kind=kind.value, name=issued.record.name)
        return issued

    async def list_keys(self, tenant: str) -> list[ApiKeyRecord]:
        tenant_id = (await self.tenant(tenant)).id if tenant else None
        return await asyncio.to_thread(self.store.list_api_keys, tenant_id)

    async def revoke_key(self, caller: Principal, key_id: str) -> ApiKeyRecord:
        if not key_id:
            raise InvalidArgument("key_id is required (the key_… id shown by ListApiKeys)")
        record = await asyncio.to_thread(self.store.revoke_api_key, key_id)
        if record is None:
            raise NotFound(f"API key {key_id!r} not found")
        await self.audit.record(caller, "key.revoke", key_id, tenant_id=record.tenant_id,
                                kind=record.kind.value)
        return record

    async def audit_events(self, tenant: str, limit: int) -> list[AuditRecord]:
        if not 0 <= limit <= MAX_AUDIT_EVENTS:
            raise InvalidArgument(f"limit must be between 1 and {MAX_AUDIT_EVENTS} (0 means 100)")
        tenant_id = (await self.tenant(tenant)).id if tenant else None
        return await self.audit.list(tenant_id, limit or 100)


def _check_quotas(quotas: Quotas) -> None:
    for field, value in vars(quotas).items():
        if value is not None and value < 1:
            raise InvalidArgument(f"quotas.{field} must be at least 1 (got {value}); leave it "
                                  "unset for the server's default")
