"""Per-adapter state: the promoted version and the retrain policy."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import schema
from .records import AdapterState

A = schema.adapters


class AdapterStateQueries:
    write_engine: sa.Engine
    read_engine: sa.Engine

    def get_adapter_state(self, tenant_id: str, name: str) -> AdapterState | None:
        with self.read_engine.connect() as conn:
            row = conn.execute(sa.select(A).where(A.c.tenant_id == tenant_id, A.c.name == name)).first()
        return AdapterState(**row._mapping) if row else None

    def set_promoted_version(self, tenant_id: str, name: str, version: int) -> None:
        with self.write_engine.begin() as conn:
            upsert_adapter_state(conn, tenant_id, name, promoted_version=version)

    def set_retrain_policy(self, tenant_id: str, name: str, policy: dict[str, Any] | None) -> None:
        with self.write_engine.begin() as conn:
            upsert_adapter_state(conn, tenant_id, name, retrain_policy=policy)

    def list_retrain_policies(self) -> list[AdapterState]:
        """Every adapter that has a policy, all tenants (the scheduler's view)."""
        with self.read_engine.connect() as conn:
            rows = conn.execute(sa.select(A).where(A.c.retrain_policy.is_not(None)))
            return [AdapterState(**r._mapping) for r in rows if r.retrain_policy]

    def mark_policy_run(self, tenant_id: str, name: str, feedback_seen: int, when: float) -> None:
        with self.write_engine.begin() as conn:
            upsert_adapter_state(conn, tenant_id, name, policy_feedback_seen=feedback_seen,
                                 policy_last_run=when)

    def count_feedback(self, tenant_id: str, adapter: str) -> int:
        t = schema.feedback
        query = sa.select(sa.func.count()).select_from(t).where(t.c.tenant_id == tenant_id,
                                                                t.c.adapter == adapter)
        with self.read_engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


def upsert_adapter_state(conn: sa.Connection, tenant_id: str, name: str, **values: Any) -> None:
    """Inside an open write transaction: update the adapter's row, creating it if missing."""
    from .sql_jobs import _advisory_lock

    _advisory_lock(conn, "adapter-state", tenant_id, name)
    where = (A.c.tenant_id == tenant_id, A.c.name == name)
    if conn.execute(sa.select(A.c.name).where(*where)).first() is None:
        conn.execute(A.insert().values(tenant_id=tenant_id, name=name, **values))
    else:
        conn.execute(A.update().where(*where).values(**values))
