"""`client.admin`: tenants, quotas, API keys, worker tokens and the audit log.

Every method needs a client built with an admin key (a local server writes one to
~/.tuneloop/admin.key); other keys get PermissionDeniedError.
"""

from __future__ import annotations

import json

from .. import types as t
from .._convert.fields import enum_name, enum_value, timestamp
from .._transport import AsyncTransport, SyncTransport
from ..v1 import admin_pb2


class Admin:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.admin

    def create_tenant(self, name: str, quotas: t.Quotas | None = None) -> t.Tenant:
        req = admin_pb2.CreateTenantRequest(name=name, quotas=_quotas_pb(quotas))
        return _tenant(self._t.call(self._stub.CreateTenant, req))

    def list_tenants(self) -> list[t.Tenant]:
        reply = self._t.call(self._stub.ListTenants, admin_pb2.ListTenantsRequest())
        return [_tenant(m) for m in reply.tenants]

    def set_quotas(self, tenant: str, quotas: t.Quotas) -> t.Tenant:
        """Change the limits that are not None; `tenant` is an id or a name."""
        req = admin_pb2.SetQuotasRequest(tenant=tenant, quotas=_quotas_pb(quotas))
        return _tenant(self._t.call(self._stub.SetQuotas, req))

    def create_key(self, tenant: str = "", *, kind: t.KeyKind = "user", name: str = "") -> t.CreatedApiKey:
        """A new key; its `token` is shown only in this reply. User keys need a tenant."""
        req = admin_pb2.CreateApiKeyRequest(
            kind=enum_value(admin_pb2.KeyKind, "KEY_KIND_", kind, "key kind"), tenant=tenant, name=name)
        reply = self._t.call(self._stub.CreateApiKey, req)
        return t.CreatedApiKey(key=_key(reply.key), token=reply.token)

    def list_keys(self, tenant: str = "") -> list[t.ApiKey]:
        reply = self._t.call(self._stub.ListApiKeys, admin_pb2.ListApiKeysRequest(tenant=tenant))
        return [_key(m) for m in reply.keys]

    def revoke_key(self, key_id: str) -> t.ApiKey:
        return _key(self._t.call(self._stub.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id=key_id)))

    def audit_events(self, tenant: str = "", *, limit: int = 100) -> list[t.AuditEvent]:
        """Newest first; `tenant` (id or name) narrows to one tenant."""
        req = admin_pb2.ListAuditEventsRequest(tenant=tenant, limit=limit)
        return [_audit(m) for m in self._t.call(self._stub.ListAuditEvents, req).events]


class AsyncAdmin:
    """Async twin of `Admin`."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.admin

    async def create_tenant(self, name: str, quotas: t.Quotas | None = None) -> t.Tenant:
        req = admin_pb2.CreateTenantRequest(name=name, quotas=_quotas_pb(quotas))
        return _tenant(await self._t.call(self._stub.CreateTenant, req))

    async def list_tenants(self) -> list[t.Tenant]:
        reply = await self._t.call(self._stub.ListTenants, admin_pb2.ListTenantsRequest())
        return [_tenant(m) for m in reply.tenants]

    async def set_quotas(self, tenant: str, quotas: t.Quotas) -> t.Tenant:
        req = admin_pb2.SetQuotasRequest(tenant=tenant, quotas=_quotas_pb(quotas))
        return _tenant(await self._t.call(self._stub.SetQuotas, req))

    async def create_key(self, tenant: str = "", *, kind: t.KeyKind = "user",
                         name: str = "") -> t.CreatedApiKey:
        req = admin_pb2.CreateApiKeyRequest(
            kind=enum_value(admin_pb2.KeyKind, "KEY_KIND_", kind, "key kind"), tenant=tenant, name=name)
        reply = await self._t.call(self._stub.CreateApiKey, req)
        return t.CreatedApiKey(key=_key(reply.key), token=reply.token)

    async def list_keys(self, tenant: str = "") -> list[t.ApiKey]:
        reply = await self._t.call(self._stub.ListApiKeys, admin_pb2.ListApiKeysRequest(tenant=tenant))
        return [_key(m) for m in reply.keys]

    async def revoke_key(self, key_id: str) -> t.ApiKey:
        req = admin_pb2.RevokeApiKeyRequest(key_id=key_id)
        return _key(await self._t.call(self._stub.RevokeApiKey, req))

    async def audit_events(self, tenant: str = "", *, limit: int = 100) -> list[t.AuditEvent]:
        req = admin_pb2.ListAuditEventsRequest(tenant=tenant, limit=limit)
        return [_audit(m) for m in (await self._t.call(self._stub.ListAuditEvents, req)).events]


def _quotas_pb(q: t.Quotas | None) -> admin_pb2.Quotas:
    if q is None:
        return admin_pb2.Quotas()
    return admin_pb2.Quotas(**{k: v for k, v in vars(q).items() if v is not None})


def _quotas(m: admin_pb2.Quotas) -> t.Quotas:
    return t.Quotas(*(getattr(m, f) if m.HasField(f) else None
                      for f in ("max_concurrent_jobs", "max_stored_bytes", "requests_per_second")))


def _tenant(m: admin_pb2.Tenant) -> t.Tenant:
    return t.Tenant(id=m.id, name=m.name, quotas=_quotas(m.quotas),
                    created_at=timestamp(m.created_at, m.HasField("created_at")))


def _key(m: admin_pb2.ApiKey) -> t.ApiKey:
    return t.ApiKey(id=m.id, kind=enum_name(admin_pb2.KeyKind, "KEY_KIND_", m.kind),
                    tenant_id=m.tenant_id, name=m.name,
                    created_at=timestamp(m.created_at, m.HasField("created_at")),
                    revoked_at=timestamp(m.revoked_at, m.HasField("revoked_at")))


def _audit(m: admin_pb2.AuditEvent) -> t.AuditEvent:
    return t.AuditEvent(id=m.id, tenant_id=m.tenant_id, actor=m.actor, action=m.action,
                        resource=m.resource, detail=json.loads(m.detail_json or "{}"),
                        created_at=timestamp(m.created_at, m.HasField("created_at")))
