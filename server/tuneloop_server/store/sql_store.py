"""JobStore on SQLAlchemy Core: SQLite by default (WAL, synchronous=FULL), PostgreSQL by URL.

PostgreSQL (psycopg 3) lets several control-plane replicas share one queue: every
read-then-write is guarded by a row lock or an advisory lock (see sql_jobs), so the
guarantees that SQLite gets from BEGIN IMMEDIATE hold across processes and machines.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import InvalidArgument
from . import migrate, schema
from .records import (
    AdapterVersionRecord,
    DatasetRecord,
    DatasetStatus,
    FeedbackRecord,
    LineError,
    RequestLogRecord,
)
from .sql_adapters import AdapterStateQueries
from .sql_jobs import JobQueries
from .sql_tenancy import TenancyQueries
from .sql_watch import WatchQueries


def open_store(url: str) -> "SqlJobStore":
    """Open (creating and migrating if needed) the database at `url`."""
    store = SqlJobStore(url)
    migrate.upgrade(store.write_engine)
    return store


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean PostgreSQL through psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _postgres_engine(url: str) -> sa.Engine:
    # READ COMMITTED (the default) plus row locks and advisory locks where a read decides a
    # write; see sql_jobs. pre_ping: a restarted database costs one failed checkout, not a
    # failed RPC. Up to 40 connections per replica, so each of the control plane's IO threads
    # (io_threads, 32) can hold one: size PostgreSQL's max_connections (default 100) for the
    # number of replicas you run.
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30,
                              pool_recycle=3600,
                              connect_args={"application_name": "tuneloop", "connect_timeout": 10})

    @sa.event.listens_for(engine, "handle_error")
    def _bad_value(context: sa.engine.ExceptionContext) -> None:
        # SQLite stores what it is given; PostgreSQL rejects NUL characters in text and values
        # longer than their column (SQLSTATE class 22): that is the caller's input, not a bug.
        if isinstance(context.sqlalchemy_exception, sa.exc.DataError):
            detail = (str(context.original_exception).splitlines() or ["invalid value"])[0]
            raise InvalidArgument(f"a value cannot be stored: {detail}")

    return engine


def _sqlite_engine(url: str, *, immediate: bool) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions start (see "begin" below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed job survives power loss
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite has one writer at a time. Writers of this process queue on a Python lock rather
    # than on SQLite's busy handler, which sleeps in steps of up to 100 ms and so turns a
    # few milliseconds of waiting into a long tail under concurrent writes.
    writer = threading.RLock() if immediate else None

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if writer is not None:
            writer.acquire()
            conn.connection.info["tuneloop_writer"] = True  # released when it is checked in
        # Writers take the lock up front, so two read-then-write transactions (two workers
        # claiming the same job) serialise instead of failing with "database is locked".
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except BaseException:
            _release(None, conn.connection._connection_record)
            raise

    @sa.event.listens_for(engine, "checkin")
    def _release(_dbapi_conn: Any, record: Any) -> None:
        # After COMMIT or ROLLBACK has run: the connection goes back to the pool only then.
        if writer is not None and record is not None and record.info.pop("tuneloop_writer", False):
            writer.release()

    return engine


class SqlJobStore(JobQueries, TenancyQueries, WatchQueries, AdapterStateQueries):
    def __init__(self, url: str):
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = _postgres_engine(normalize_url(url))
            self.read_engine = self.write_engine

    def close(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()

    # -- datasets ---------------------------------------------------------------------------

    def add_dataset(self, record: DatasetRecord) -> None:
        values = _values(record)
        values["status"] = record.status.value
        values["errors"] = [{"line": e.line, "message": e.message} for e in record.errors]
        with self.write_engine.begin() as conn:
            conn.execute(schema.datasets.insert().values(**values))

    def get_dataset(self, tenant_id: str, dataset_id: str) -> DatasetRecord | None:
        t = schema.datasets
        rows = self._select(t, sa.and_(t.c.tenant_id == tenant_id, t.c.id == dataset_id))
        return _dataset(rows[0]) if rows else None

    def list_datasets(self, tenant_id: str) -> list[DatasetRecord]:
        t = schema.datasets
        return [_dataset(r) for r in self._select(t, t.c.tenant_id == tenant_id, order=t.c.created_at)]

    def delete_dataset(self, tenant_id: str, dataset_id: str) -> bool:
        t = schema.datasets
        with self.write_engine.begin() as conn:
            result = conn.execute(t.delete().where(t.c.tenant_id == tenant_id, t.c.id == dataset_id))
        return result.rowcount > 0

    def stored_bytes(self, tenant_id: str) -> int:
        t = schema.datasets
        query = sa.select(sa.func.coalesce(sa.func.sum(t.c.size_bytes), 0)).where(t.c.tenant_id == tenant_id)
        with self.read_engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- adapters ---------------------------------------------------------------------------

    def list_adapter_versions(self, tenant_id: str, name: str | None = None) -> list[AdapterVersionRecord]:
        t = schema.adapter_versions
        where = t.c.tenant_id == tenant_id
        if name is not None:
            where = sa.and_(where, t.c.name == name)
        return [AdapterVersionRecord(**r) for r in self._select(t, where, order=(t.c.name, t.c.version))]

    def get_adapter_version(self, tenant_id: str, name: str,
                            version: int | None = None) -> AdapterVersionRecord | None:
        versions = self.list_adapter_versions(tenant_id, name)
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)

    def delete_adapter(self, tenant_id: str, name: str) -> list[AdapterVersionRecord]:
        t = schema.adapter_versions
        versions = self.list_adapter_versions(tenant_id, name)
        with self.write_engine.begin() as conn:
            conn.execute(t.delete().where(t.c.tenant_id == tenant_id, t.c.name == name))
            conn.execute(schema.adapters.delete().where(schema.adapters.c.tenant_id == tenant_id,
                                                        schema.adapters.c.name == name))
        return versions

    # -- request log and feedback -----------------------------------------------------------

    def log_request(self, record: RequestLogRecord) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(schema.request_log.insert().values(**_values(record)))

    def get_request(self, tenant_id: str, request_id: str) -> RequestLogRecord | None:
        t = schema.request_log
        rows = self._select(t, sa.and_(t.c.tenant_id == tenant_id, t.c.id == request_id))
        return RequestLogRecord(**rows[0]) if rows else None

    def add_feedback(self, record: FeedbackRecord) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(schema.feedback.insert().values(**_values(record)))

    def list_feedback(self, tenant_id: str, adapter: str | None = None) -> list[FeedbackRecord]:
        t = schema.feedback
        where = t.c.tenant_id == tenant_id
        if adapter:
            where = sa.and_(where, t.c.adapter == adapter)
        return [FeedbackRecord(**r) for r in self._select(t, where, order=t.c.created_at)]

    # -- workers ----------------------------------------------------------------------------

    def register_worker(self, worker_id: str, name: str, accelerator: str, memory_bytes: int) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(schema.workers.insert().values(
                id=worker_id, name=name, accelerator=accelerator, memory_bytes=memory_bytes,
                last_seen=time.time()))

    def touch_worker(self, worker_id: str) -> None:
        with self.write_engine.begin() as conn:
            conn.execute(schema.workers.update().where(schema.workers.c.id == worker_id)
                         .values(last_seen=time.time()))

    def count_workers_seen_since(self, since: float) -> int:
        query = sa.select(sa.func.count()).select_from(schema.workers).where(
            schema.workers.c.last_seen >= since)
        with self.read_engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- helpers ----------------------------------------------------------------------------

    def _select(self, table: sa.Table, where: Any = None, order: Any = None) -> list[dict[str, Any]]:
        query = sa.select(table)
        if where is not None:
            query = query.where(where)
        if order is not None:
            query = query.order_by(*(order if isinstance(order, tuple) else (order,)))
        with self.read_engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def _values(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _dataset(row: dict[str, Any]) -> DatasetRecord:
    errors = [LineError(e["line"], e["message"]) for e in row.pop("errors")]
    record = DatasetRecord(**row, errors=errors)
    return replace(record, status=DatasetStatus(record.status))
