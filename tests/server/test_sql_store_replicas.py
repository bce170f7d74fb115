"""Several control planes on one database: the guarantees hold across processes' pools.

Each test runs on SQLite and on PostgreSQL (fixtures in conftest.py); `replicas` are two
stores with their own connection pools on one database.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from store_records import job
from tuneloop_server.errors import AlreadyExists, ResourceExhausted
from tuneloop_server.store import migrate, open_store
from tuneloop_server.store.records import (
    AdapterVersionRecord,
    EventType,
    JobState,
    Quotas,
    TenantRecord,
)
from tuneloop_server.store.schema import metadata


def test_concurrent_creates_with_one_idempotency_key_make_one_job(replicas):
    barrier = threading.Barrier(8)

    def create(i: int) -> tuple[str, bool]:
        barrier.wait()
        made, created = replicas[i % 2].create_job(job(f"job_{i}", key="same"))
        return made.id, created

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    [winner] = [job_id for job_id, created in results if created]
    assert {job_id for job_id, _ in results} == {winner}
    assert [j.id for j in replicas[0].list_jobs("tn_a")] == [winner]


def test_a_duplicate_key_insert_that_slips_past_the_lookup_returns_the_first_job(store, monkeypatch):
    # As if another process (without the tenant lock) inserted between our lookup and insert:
    # the unique constraint refuses ours, and the caller gets the job that won.
    from dataclasses import asdict

    from tuneloop_server.store import schema, sql_jobs

    store.create_job(job("job_1", key="k"))

    def insert_without_lookup(self, record, max_active):
        with self.write_engine.begin() as conn:
            conn.execute(schema.jobs.insert().values(**{**asdict(record), "state": "queued"}))
        raise AssertionError("the unique constraint should have refused the insert")

    monkeypatch.setattr(sql_jobs.JobQueries, "_create_job", insert_without_lookup)
    again, created = store.create_job(job("job_2", key="k"))
    assert (again.id, created) == ("job_1", False)


def test_concurrent_creates_cannot_overrun_the_quota(replicas):
    barrier = threading.Barrier(8)

    def create(i: int) -> bool:
        barrier.wait()
        try:
            return replicas[i % 2].create_job(job(f"job_{i}"), max_active=3)[1]
        except ResourceExhausted:
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(create, range(8))) == 3
    assert len(replicas[0].list_jobs("tn_a")) == 3


def test_replicas_claim_each_job_exactly_once(replicas):
    for i in range(40):
        replicas[i % 2].create_job(job(f"job_{i:02d}"))

    def drain(worker: int) -> list[str]:
        got = []
        while (claimed := replicas[worker % 2].claim_next_job(f"w{worker}", 30)) is not None:
            assert claimed.state is JobState.RUNNING and claimed.attempt == 1
            got.append(claimed.id)
        return got

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(drain, range(4)))
    claimed = sorted(j for r in results for j in r)
    assert claimed == [f"job_{i:02d}" for i in range(40)]
    for job_id in claimed[:5]:
        states = [e.state for e in replicas[0].list_events(job_id, 0) if e.type is EventType.STATE]
        assert states == [JobState.QUEUED, JobState.RUNNING]


def test_concurrent_finishes_number_adapter_versions_without_gaps(replicas):
    for i in range(12):
        replicas[0].create_job(job(f"job_{i:02d}"))
    claims = [replicas[0].claim_next_job("w", 60) for _ in range(12)]
    barrier = threading.Barrier(6)

    def finish(i: int) -> int:
        if i < 6:
            barrier.wait()
        c = claims[i]
        adapter = AdapterVersionRecord("tn_a", "a", 0, "smollm2-135m", c.id, f"k/{c.id}", 0)
        return replicas[i % 2].finish_job(c.id, c.attempt, JobState.SUCCEEDED, adapter=adapter).adapter_version

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(finish, range(12)))
    assert sorted(versions) == list(range(1, 13))
    stored = replicas[1].list_adapter_versions("tn_a", "a")
    assert [v.version for v in stored] == list(range(1, 13))
    assert len({v.job_id for v in stored}) == 12


def test_two_reapers_requeue_a_lost_job_once(replicas):
    for i in range(6):
        replicas[0].create_job(job(f"job_{i}"))
    for _ in range(6):
        replicas[0].claim_next_job("w", lease_seconds=0.0)
    now = time.time() + 1
    barrier = threading.Barrier(2)

    def reap(i: int) -> list[str]:
        barrier.wait()
        return [j.id for j in replicas[i].expire_leases(now, max_attempts=3)]

    with ThreadPoolExecutor(2) as pool:
        reaped = [j for r in pool.map(reap, range(2)) for j in r]
    assert sorted(reaped) == [f"job_{i}" for i in range(6)]
    for i in range(6):
        states = [e.state for e in replicas[0].list_events(f"job_{i}", 0) if e.type is EventType.STATE]
        assert states == [JobState.QUEUED, JobState.RUNNING, JobState.QUEUED]


def test_a_renewed_lease_is_not_reaped(store):
    store.create_job(job("job_1"))
    claimed = store.claim_next_job("w", lease_seconds=0.0)
    store.renew_lease("job_1", claimed.attempt, "w", 60)
    assert store.expire_leases(time.time() + 1, max_attempts=3) == []
    assert store.get_job("tn_a", "job_1").state is JobState.RUNNING


def test_concurrent_tenant_creation_with_one_name_makes_one_tenant(replicas):
    barrier = threading.Barrier(4)

    def create(i: int) -> str:
        barrier.wait()
        try:
            replicas[i % 2].create_tenant(TenantRecord(f"tn_{i}", "acme", Quotas(), time.time()))
            return "created"
        except AlreadyExists:
            return "exists"

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(create, range(4))) == ["created", "exists", "exists", "exists"]


def test_replicas_starting_together_migrate_once(fresh_postgres_url):
    barrier = threading.Barrier(3)

    def start(_: int):
        barrier.wait()
        return open_store(fresh_postgres_url)

    with ThreadPoolExecutor(3) as pool:
        stores = list(pool.map(start, range(3)))
    with stores[0].write_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        assert versions == [migrate.head_revision()]
    for s in stores:
        s.close()


