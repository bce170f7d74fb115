"""Servicer of AdminService: tenants, quotas, keys, audit log (admin keys only)."""

from __future__ import annotations

from tuneloop.v1 import admin_pb2, admin_pb2_grpc

from ..auth.principal import current_principal
from ..services.admin import AdminService
from ..store.records import TenantRecord
from . import convert


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, admin: AdminService):
        self.admin = admin

    async def _tenant_pb(self, tenant: TenantRecord) -> admin_pb2.Tenant:
        return convert.tenant_to_pb(tenant, await self.admin.effective_quotas(tenant))

    async def CreateTenant(self, request, context) -> admin_pb2.Tenant:
        tenant = await self.admin.create_tenant(
            current_principal(), request.name, convert.quotas_from_pb(request.quotas))
        return await self._tenant_pb(tenant)

    async def ListTenants(self, request, context) -> admin_pb2.ListTenantsResponse:
        tenants = await self.admin.list_tenants()
        return admin_pb2.ListTenantsResponse(tenants=[await self._tenant_pb(t) for t in tenants])

    async def SetQuotas(self, request, context) -> admin_pb2.Tenant:
        tenant = await self.admin.set_quotas(
            current_principal(), request.tenant, convert.quotas_from_pb(request.quotas))
        return await self._tenant_pb(tenant)

    async def CreateApiKey(self, request, context) -> admin_pb2.CreatedApiKey:
        issued = await self.admin.create_key(
            current_principal(), convert.key_kind_from_pb(request.kind), request.tenant, request.name)
        return admin_pb2.CreatedApiKey(key=convert.api_key_to_pb(issued.record), token=issued.token)

    async def ListApiKeys(self, request, context) -> admin_pb2.ListApiKeysResponse:
        records = await self.admin.list_keys(request.tenant)
        return admin_pb2.ListApiKeysResponse(keys=[convert.api_key_to_pb(k) for k in records])

    async def RevokeApiKey(self, request, context) -> admin_pb2.ApiKey:
        return convert.api_key_to_pb(await self.admin.revoke_key(current_principal(), request.key_id))

    async def ListAuditEvents(self, request, context) -> admin_pb2.ListAuditEventsResponse:
        events = await self.admin.audit_events(request.tenant, request.limit)
        return admin_pb2.ListAuditEventsResponse(events=[convert.audit_to_pb(e) for e in events])
