"""Persistent state of the control plane: the JobStore seam and its SQL implementation."""

from .protocol import JobStore, TenantStore
from .sql_store import SqlJobStore, open_store

__all__ = ["JobStore", "TenantStore", "SqlJobStore", "open_store"]
