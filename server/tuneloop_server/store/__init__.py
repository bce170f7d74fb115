"""Persistent state of the control plane: the JobStore seam and its SQL implementation."""

from .protocol import JobStore
from .sql_store import SqlJobStore, open_store

__all__ = ["JobStore", "SqlJobStore", "open_store"]
