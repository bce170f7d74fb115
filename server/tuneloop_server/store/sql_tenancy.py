"""Tenants, API keys and the audit log."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from ..errors import AlreadyExists
from . import schema
from .records import ApiKeyRecord, AuditRecord, KeyKind, Quotas, TenantRecord

T = schema.tenants
K = schema.api_keys
A = schema.audit_log


class TenancyQueries:
    write_engine: sa.Engine
    read_engine: sa.Engine

    # -- tenants ----------------------------------------------------------------------------

    def create_tenant(self, tenant: TenantRecord) -> TenantRecord:
        taken = AlreadyExists(f"a tenant named {tenant.name!r} already exists")
        try:
            with self.write_engine.begin() as conn:
                if conn.execute(sa.select(T.c.id).where(T.c.name == tenant.name)).first():
                    raise taken
                conn.execute(T.insert().values(id=tenant.id, name=tenant.name,
                                               created_at=tenant.created_at,
                                               **_quota_values(tenant.quotas)))
        except sa.exc.IntegrityError:
            # Two replicas creating the same name at once: the unique index decides (PostgreSQL).
            if self.get_tenant(tenant.name) is None:
                raise
            raise taken from None
        return tenant

    def get_tenant(self, tenant_id_or_name: str) -> TenantRecord | None:
        query = sa.select(T).where(sa.or_(T.c.id == tenant_id_or_name, T.c.name == tenant_id_or_name))
        with self.read_engine.connect() as conn:
            row = conn.execute(query).first()
        return _tenant(row._mapping) if row else None

    def list_tenants(self) -> list[TenantRecord]:
        with self.read_engine.connect() as conn:
            return [_tenant(r._mapping) for r in conn.execute(sa.select(T).order_by(T.c.created_at))]

    def set_quotas(self, tenant_id: str, quotas: Quotas) -> None:
        """Set the limits that are not None; the others keep their current value."""
        values = {k: v for k, v in _quota_values(quotas).items() if v is not None}
        if values:
            with self.write_engine.begin() as conn:
                conn.execute(T.update().where(T.c.id == tenant_id).values(**values))

    # -- API keys ---------------------------------------------------------------------------

    def add_api_key(self, key: ApiKeyRecord) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(K.insert().values(
                id=key.id, kind=key.kind.value, tenant_id=key.tenant_id, name=key.name,
                secret_hash=key.secret_hash, created_at=key.created_at, revoked_at=key.revoked_at))

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self.read_engine.connect() as conn:
            row = conn.execute(sa.select(K).where(K.c.id == key_id)).first()
        return _key(row._mapping) if row else None

    def list_api_keys(self, tenant_id: str | None = None,
                      kind: KeyKind | None = None) -> list[ApiKeyRecord]:
        query = sa.select(K).order_by(K.c.created_at)
        if tenant_id is not None:
            query = query.where(K.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(K.c.kind == kind.value)
        with self.read_engine.connect() as conn:
            return [_key(r._mapping) for r in conn.execute(query)]

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord | None:
        with self.write_engine.begin() as conn:
            conn.execute(K.update().where(K.c.id == key_id, K.c.revoked_at.is_(None))
                         .values(revoked_at=time.time()))
        return self.get_api_key(key_id)

    # -- audit log --------------------------------------------------------------------------

    def record_audit(self, entry: AuditRecord) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(A.insert().values(
                tenant_id=entry.tenant_id, actor=entry.actor, action=entry.action,
                resource=entry.resource[:200], detail=entry.detail, created_at=entry.created_at))

    def list_audit(self, tenant_id: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest `limit` entries, newest first."""
        query = sa.select(A).order_by(A.c.id.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(A.c.tenant_id == tenant_id)
        with self.read_engine.connect() as conn:
            return [AuditRecord(**r._mapping) for r in conn.execute(query)]


def _quota_values(quotas: Quotas) -> dict[str, Any]:
    return {"max_concurrent_jobs": quotas.max_concurrent_jobs,
            "max_stored_bytes": quotas.max_stored_bytes,
            "requests_per_second": quotas.requests_per_second}


def _tenant(row: Any) -> TenantRecord:
    quotas = Quotas(row["max_concurrent_jobs"], row["max_stored_bytes"], row["requests_per_second"])
    return TenantRecord(id=row["id"], name=row["name"], quotas=quotas, created_at=row["created_at"])


def _key(row: Any) -> ApiKeyRecord:
    data = dict(row)
    data["kind"] = KeyKind(data["kind"])
    return ApiKeyRecord(**data)
