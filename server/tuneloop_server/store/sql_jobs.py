"""Job lifecycle queries: create, claim with a lease, events with gap-free seq, finish.

Every state change and the event that reports it are written in one transaction, so a
watcher can never see a state that has no event, and a crash never loses half of one.

Concurrency. On SQLite every write transaction starts with BEGIN IMMEDIATE, so writers run
one at a time. On PostgreSQL (READ COMMITTED, several control-plane replicas) each
read-then-write holds a lock on what it read: the job row (SELECT ... FOR UPDATE) for
everything that changes a job, a transaction-scoped advisory lock per tenant for the
idempotency-key and quota checks of create_job, and one per (tenant, adapter name) for the
next adapter version. Claims use FOR UPDATE SKIP LOCKED, so workers never wait on each other.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields, replace
from typing import Any

import sqlalchemy as sa

from ..errors import NotFound, ResourceExhausted, StaleAttempt
from . import schema
from .sql_adapters import upsert_adapter_state
from .records import (
    AdapterVersionRecord,
    Promotion,
    EventRecord,
    EventType,
    JobRecord,
    JobState,
    NewEvent,
)

J = schema.jobs
E = schema.job_events


class JobQueries:
    write_engine: sa.Engine
    read_engine: sa.Engine

    def create_job(self, record: JobRecord, max_active: int | None = None) -> tuple[JobRecord, bool]:
        try:
            return self._create_job(record, max_active)
        except sa.exc.IntegrityError:
            # Only reachable if something inserts without the tenant lock below (an older
            # replica during a rolling upgrade): the key's job exists now, and it is the answer.
            existing = self._job_by_key(record) if record.idempotency_key else None
            if existing is None:
                raise
            return existing, False

    def _job_by_key(self, record: JobRecord) -> JobRecord | None:
        with self.read_engine.connect() as conn:
            row = conn.execute(sa.select(J).where(
                J.c.tenant_id == record.tenant_id,
                J.c.idempotency_key == record.idempotency_key)).first()
        return _job(row._mapping) if row else None

    def _create_job(self, record: JobRecord, max_active: int | None) -> tuple[JobRecord, bool]:
        with self.write_engine.begin() as conn:
            # One create per tenant at a time (PostgreSQL; SQLite's writers are serial anyway):
            # the key lookup and the quota count below stay true until this transaction commits.
            if record.idempotency_key or max_active is not None:
                _advisory_lock(conn, "jobs", record.tenant_id)
            if record.idempotency_key:
                existing = conn.execute(sa.select(J).where(
                    J.c.tenant_id == record.tenant_id,
                    J.c.idempotency_key == record.idempotency_key)).first()
                if existing is not None:
                    return _job(existing._mapping), False
            if max_active is not None:
                # Counted under the lock, so two concurrent creates cannot both take the
                # last slot.
                active = _count_active(conn, record.tenant_id)
                if active >= max_active:
                    raise ResourceExhausted(
                        f"quota exceeded: this tenant may have {max_active} jobs queued or running "
                        f"at once and has {active}; wait for one to finish or cancel one "
                        "(max_concurrent_jobs)")
            values = {f.name: getattr(record, f.name) for f in fields(record)}
            values.update(state=JobState.QUEUED.value, last_seq=0)
            conn.execute(J.insert().values(**values))
            job = _lock_job(conn, record.id)
            job = _append(conn, job, [NewEvent(EventType.STATE, message="queued")])
        return job, True

    def get_job(self, tenant_id: str, job_id: str) -> JobRecord | None:
        with self.read_engine.connect() as conn:
            row = conn.execute(sa.select(J).where(J.c.tenant_id == tenant_id, J.c.id == job_id)).first()
        return _job(row._mapping) if row else None

    def list_jobs(self, tenant_id: str, state: JobState | None = None) -> list[JobRecord]:
        query = sa.select(J).where(J.c.tenant_id == tenant_id).order_by(J.c.created_at)
        if state is not None:
            query = query.where(J.c.state == state.value)
        with self.read_engine.connect() as conn:
            return [_job(r._mapping) for r in conn.execute(query)]

    def request_cancel(self, tenant_id: str, job_id: str) -> JobRecord | None:
        with self.write_engine.begin() as conn:
            job = _lock_job(conn, job_id, missing_ok=True)
            if job is None or job.tenant_id != tenant_id:
                return None
            if job.state.terminal or job.cancel_requested:
                return job
            if job.state is JobState.QUEUED:
                return _transition(conn, job, JobState.CANCELLED, "cancelled before it started")
            job = _update(conn, job, cancel_requested=True)
            return _append(conn, job, [NewEvent(EventType.LOG, message="cancellation requested")])

    def claim_next_job(self, worker_id: str, lease_seconds: float) -> JobRecord | None:
        now = time.time()
        queued = J.c.state == JobState.QUEUED.value
        # The oldest queued job, locked. SKIP LOCKED: PostgreSQL workers claiming at the same
        # moment take different jobs instead of queueing behind one row lock. SQLite renders
        # no FOR UPDATE and relies on BEGIN IMMEDIATE for the same guarantee.
        oldest = (sa.select(J.c.id).where(queued).order_by(J.c.created_at, J.c.id).limit(1)
                  .with_for_update(skip_locked=True).scalar_subquery())
        claim = (J.update().where(J.c.id == oldest, queued)
                 .values(state=JobState.RUNNING.value, attempt=J.c.attempt + 1, worker_id=worker_id,
                         lease_expires_at=now + lease_seconds,
                         started_at=sa.func.coalesce(J.c.started_at, now))
                 .returning(*J.c))
        with self.write_engine.begin() as conn:
            row = conn.execute(claim).first()
            if row is None:
                return None
            job = _job(row._mapping)
            return _append(conn, job, [NewEvent(
                EventType.STATE, message=f"running on worker {worker_id} (attempt {job.attempt})")])

    def renew_lease(self, job_id: str, attempt: int, worker_id: str, lease_seconds: float) -> JobRecord:
        with self.write_engine.begin() as conn:
            job = _fenced(conn, job_id, attempt)
            return _update(conn, job, worker_id=worker_id, lease_expires_at=time.time() + lease_seconds)

    def append_events(self, job_id: str, attempt: int | None, events: list[NewEvent]) -> JobRecord:
        with self.write_engine.begin() as conn:
            job = _fenced(conn, job_id, attempt) if attempt is not None else _lock_job(conn, job_id)
            return _append(conn, job, events)

    def finish_job(self, job_id: str, attempt: int, state: JobState, *, error: str = "",
                   adapter: AdapterVersionRecord | None = None, message: str = "",
                   promotion: Promotion | None = None) -> JobRecord:
        with self.write_engine.begin() as conn:
            job = _fenced(conn, job_id, attempt)
            if adapter is not None:
                # Two jobs of one adapter finishing at once must not both read version N.
                _advisory_lock(conn, "adapter", job.tenant_id, adapter.name)
                version = _next_version(conn, job.tenant_id, adapter.name)
                conn.execute(schema.adapter_versions.insert().values(
                    tenant_id=job.tenant_id, name=adapter.name, version=version, base_model=adapter.base_model,
                    job_id=job_id, object_key=adapter.object_key, created_at=time.time()))
                job = _update(conn, job, adapter_version=version)
                job = _append(conn, job, [NewEvent(
                    EventType.ADAPTER_READY, message=f"{adapter.name}@v{version} is ready to serve")])
                if promotion is not None:
                    job = _record_promotion(conn, job, adapter.name, version, promotion)
            job = _update(conn, job, error=error)
            return _transition(conn, job, state, message or error or state.value)

    def retry_or_fail(self, job_id: str, attempt: int, error: str, max_attempts: int) -> JobRecord:
        """The attempt crashed: requeue the job while attempts remain, else end it FAILED."""
        with self.write_engine.begin() as conn:
            job = _fenced(conn, job_id, attempt)
            if job.cancel_requested:
                return _transition(conn, job, JobState.CANCELLED, f"cancelled (attempt crashed: {error})")
            if job.attempt >= max_attempts:
                job = _update(conn, job, error=f"gave up after {job.attempt} attempts; last error: {error}")
                return _transition(conn, job, JobState.FAILED, job.error)
            return _transition(conn, job, JobState.QUEUED,
                               f"attempt {job.attempt} crashed ({error}); requeued "
                               f"(attempt {job.attempt} of {max_attempts})")

    def queue_position(self, job: JobRecord) -> int:
        """1-based place of a QUEUED job in the claim order (created_at), across all tenants."""
        with self.read_engine.connect() as conn:
            ahead = conn.execute(sa.select(sa.func.count()).select_from(J).where(
                J.c.state == JobState.QUEUED.value, J.c.created_at < job.created_at)).scalar()
        return int(ahead or 0) + 1

    def recent_run_seconds(self, limit: int = 20) -> list[float]:
        """Start-to-finish seconds of the latest succeeded jobs, newest first."""
        query = (sa.select(J.c.started_at, J.c.finished_at)
                 .where(J.c.state == JobState.SUCCEEDED.value, J.c.started_at.is_not(None))
                 .order_by(J.c.finished_at.desc()).limit(limit))
        with self.read_engine.connect() as conn:
            return [r.finished_at - r.started_at for r in conn.execute(query)]

    def expire_leases(self, now: float, max_attempts: int) -> list[JobRecord]:
        """Requeue (or end) RUNNING jobs whose worker stopped renewing its lease."""
        changed = []
        with self.write_engine.begin() as conn:
            # Every replica runs this reaper. SKIP LOCKED: a job another replica (or its worker)
            # is changing right now is left to that transaction.
            rows = conn.execute(sa.select(J.c.id).where(
                J.c.state == JobState.RUNNING.value, J.c.lease_expires_at < now)
                .with_for_update(skip_locked=True)).all()
            for row in rows:
                job = _lock_job(conn, row.id)
                if job.state is not JobState.RUNNING or (job.lease_expires_at or 0) >= now:
                    continue  # renewed or ended since the scan
                lost = f"worker {job.worker_id} stopped responding"
                if job.cancel_requested:
                    job = _transition(conn, job, JobState.CANCELLED, f"cancelled ({lost})")
                elif job.attempt >= max_attempts:
                    job = _update(conn, job, error=f"{lost}; gave up after {job.attempt} attempts")
                    job = _transition(conn, job, JobState.FAILED, job.error)
                else:
                    job = _transition(conn, job, JobState.QUEUED,
                                      f"{lost}; requeued (attempt {job.attempt} of {max_attempts})")
                changed.append(job)
        return changed

    def list_events(self, job_id: str, after_seq: int, limit: int = 500) -> list[EventRecord]:
        query = (sa.select(E).where(E.c.job_id == job_id, E.c.seq > after_seq)
                 .order_by(E.c.seq).limit(limit))
        with self.read_engine.connect() as conn:
            return [_event(r._mapping) for r in conn.execute(query)]


# -- helpers that run inside an open transaction -------------------------------------------

def _lock_job(conn: sa.Connection, job_id: str, missing_ok: bool = False) -> Any:
    row = conn.execute(sa.select(J).where(J.c.id == job_id).with_for_update()).first()
    if row is None:
        if missing_ok:
            return None
        raise NotFound(f"job {job_id!r} not found")
    return _job(row._mapping)


def _fenced(conn: sa.Connection, job_id: str, attempt: int) -> JobRecord:
    job = _lock_job(conn, job_id)
    if job.attempt != attempt or job.state is not JobState.RUNNING:
        raise StaleAttempt(
            f"job {job_id} attempt {attempt} is no longer current "
            f"(job is {job.state.value}, attempt {job.attempt}); stop working on it")
    return job


def _update(conn: sa.Connection, job: JobRecord, **changes: Any) -> JobRecord:
    stored = {k: (v.value if isinstance(v, JobState) else v) for k, v in changes.items()}
    conn.execute(J.update().where(J.c.id == job.id).values(**stored))
    return replace(job, **changes)


def _transition(conn: sa.Connection, job: JobRecord, state: JobState, message: str) -> JobRecord:
    changes: dict[str, Any] = {"state": state}
    if state.terminal:
        changes.update(finished_at=time.time(), lease_expires_at=None)
    elif state is JobState.QUEUED:
        changes.update(worker_id=None, lease_expires_at=None)
    job = _update(conn, job, **changes)
    return _append(conn, job, [NewEvent(EventType.STATE, message=message)])


def _append(conn: sa.Connection, job: JobRecord, events: list[NewEvent]) -> JobRecord:
    if not events:
        return job
    now = time.time()
    rows = [
        dict(job_id=job.id, seq=job.last_seq + i, type=ev.type.value, state=job.state.value,
             step=ev.step, total_steps=ev.total_steps, metrics=ev.metrics, message=ev.message,
             created_at=now)
        for i, ev in enumerate(events, start=1)
    ]
    conn.execute(E.insert(), rows)
    changes: dict[str, Any] = {"last_seq": job.last_seq + len(events)}
    progress = [ev for ev in events if ev.type in (EventType.METRICS, EventType.EVAL)]
    if progress:
        last = progress[-1]
        metrics = {**job.metrics}
        for ev in progress:
            metrics.update(ev.metrics)
        changes.update(metrics=metrics, step=max(job.step, last.step),
                       total_steps=last.total_steps or job.total_steps)
    return _update(conn, job, **changes)


def _advisory_lock(conn: sa.Connection, *key: str) -> None:
    """Hold a PostgreSQL lock on `key` until the transaction ends; SQLite needs none (its
    writers are serialised by BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=8).digest()
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                 {"key": int.from_bytes(digest, "big", signed=True)})


def _record_promotion(conn: sa.Connection, job: JobRecord, name: str, version: int,
                      promotion: Promotion) -> JobRecord:
    if promotion.promote:
        upsert_adapter_state(conn, job.tenant_id, name, promoted_version=version)
    job = _update(conn, job, eval_scores=promotion.scores, promoted=promotion.promote,
                  promotion_note=promotion.note)
    verdict = "promoted: plain name now serves it" if promotion.promote else "not promoted"
    note = promotion.note[:1].upper() + promotion.note[1:]
    return _append(conn, job, [NewEvent(EventType.LOG, message=f"{name}@v{version} {verdict}. {note}")])


def _next_version(conn: sa.Connection, tenant_id: str, name: str) -> int:
    t = schema.adapter_versions
    current = conn.execute(sa.select(sa.func.max(t.c.version)).where(
        t.c.tenant_id == tenant_id, t.c.name == name)).scalar()
    return (current or 0) + 1


def _count_active(conn: sa.Connection, tenant_id: str) -> int:
    active = (JobState.QUEUED.value, JobState.RUNNING.value)
    return conn.execute(sa.select(sa.func.count()).select_from(J).where(
        J.c.tenant_id == tenant_id, J.c.state.in_(active))).scalar() or 0


def _job(row: Any) -> JobRecord:
    data = dict(row)
    data["state"] = JobState(data["state"])
    for flag in ("include_feedback", "cancel_requested", "promoted"):
        data[flag] = bool(data[flag])
    data["evaluation"] = data["evaluation"] or {}
    data["eval_scores"] = data["eval_scores"] or {}
    return JobRecord(**data)


def _event(row: Any) -> EventRecord:
    data = dict(row)
    data["type"] = EventType(data["type"])
    data["state"] = JobState(data["state"])
    return EventRecord(**data)
