"""The SQLite job store: migrations, gap-free events, exclusive claims, fencing, leases."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tuneloop_server.errors import ResourceExhausted, StaleAttempt
from tuneloop_server.store import open_store
from tuneloop_server.store.records import EventType, JobRecord, JobState, NewEvent
from tuneloop_server.store.schema import metadata


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield s
    s.close()


def job(job_id: str, key: str | None = None, tenant: str = "tn_a") -> JobRecord:
    return JobRecord(tenant_id=tenant, id=job_id, state=JobState.QUEUED, base_model="smollm2-135m", dataset_id="ds",
                     validation_dataset_id=None, adapter="a", method="lora", hyperparameters={},
                     include_feedback=False, created_at=time.time(), idempotency_key=key)


def test_migrations_produce_exactly_the_declared_schema(store):
    with store.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode_with_full_sync(store):
    with store.write_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_idempotency_key_returns_the_same_job(store):
    first, created = store.create_job(job("job_1", key="k"))
    again, created_again = store.create_job(job("job_2", key="k"))
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert [j.id for j in store.list_jobs("tn_a")] == ["job_1"]


def test_tenants_see_only_their_own_jobs_and_idempotency_keys(store):
    mine, _ = store.create_job(job("job_a", key="k", tenant="tn_a"))
    theirs, created = store.create_job(job("job_b", key="k", tenant="tn_b"))
    assert created and theirs.id == "job_b"  # the same key in another tenant is another job
    assert [j.id for j in store.list_jobs("tn_b")] == ["job_b"]
    assert store.get_job("tn_b", "job_a") is None
    assert store.request_cancel("tn_b", "job_a") is None
    assert store.get_job("tn_a", "job_a").state is JobState.QUEUED  # untouched


def test_concurrent_job_quota_counts_queued_and_running(store):
    store.create_job(job("job_1"), max_active=2)
    store.create_job(job("job_2"), max_active=2)
    store.create_job(job("job_other", tenant="tn_b"), max_active=2)  # other tenants don't count
    with pytest.raises(ResourceExhausted, match="2 jobs queued or running"):
        store.create_job(job("job_3"), max_active=2)
    store.request_cancel("tn_a", "job_1")
    assert store.create_job(job("job_3"), max_active=2)[1]


def test_rows_from_before_tenancy_move_to_the_default_tenant(tmp_path):
    from tuneloop_server.store import migrate
    from tuneloop_server.store.sql_store import SqlJobStore

    old = SqlJobStore(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(old.write_engine, "0001")
    with old.write_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO jobs (id, state, base_model, dataset_id, adapter, method, hyperparameters,"
            " include_feedback, idempotency_key, metrics, created_at)"
            " VALUES ('job_old', 'succeeded', 'b', 'ds', 'a', 'lora', '{}', 0, 'k', '{}', 0)")
        conn.exec_driver_sql("INSERT INTO adapter_versions VALUES ('a', 1, 'b', 'job_old', 'k', 0)")
    migrate.upgrade(old.write_engine)
    assert store_tenant_of(old) == ("tn_default", "default")
    assert old.get_job("tn_default", "job_old").state is JobState.SUCCEEDED
    assert old.get_adapter_version("tn_default", "a").job_id == "job_old"
    old.close()


def store_tenant_of(store) -> tuple[str, str]:
    [tenant] = store.list_tenants()
    return tenant.id, tenant.name


def test_concurrent_appends_keep_seq_gap_free(store):
    store.create_job(job("job_1"))
    claimed = store.claim_next_job("w", 30)

    def append(i: int) -> None:
        store.append_events("job_1", claimed.attempt, [NewEvent(EventType.LOG, message=str(i))] * 3)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(40)))
    seqs = [e.seq for e in store.list_events("job_1", 0, limit=1000)]
    assert seqs == list(range(1, 2 + 1 + 40 * 3))  # queued + running + 120 logs


def test_each_job_is_claimed_once_by_racing_workers(store):
    for i in range(30):
        store.create_job(job(f"job_{i:02d}"))

    def drain(worker: str) -> list[str]:
        got = []
        while (claimed := store.claim_next_job(worker, 30)) is not None:
            got.append(claimed.id)
        return got

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(drain, ["w1", "w2", "w3", "w4"]))
    claimed = [j for r in results for j in r]
    assert sorted(claimed) == [f"job_{i:02d}" for i in range(30)]


def test_a_lost_lease_requeues_and_fences_the_old_attempt(store):
    store.create_job(job("job_1"))
    first = store.claim_next_job("w1", lease_seconds=0.01)
    time.sleep(0.05)
    [requeued] = store.expire_leases(time.time(), max_attempts=3)
    assert requeued.state is JobState.QUEUED
    second = store.claim_next_job("w2", 30)
    assert second.attempt == first.attempt + 1
    with pytest.raises(StaleAttempt):
        store.append_events("job_1", first.attempt, [NewEvent(EventType.LOG)])
    with pytest.raises(StaleAttempt):
        store.finish_job("job_1", first.attempt, JobState.SUCCEEDED)
    assert store.finish_job("job_1", second.attempt, JobState.SUCCEEDED).state is JobState.SUCCEEDED


def test_too_many_lost_leases_fail_the_job(store):
    store.create_job(job("job_1"))
    for _ in range(2):
        store.claim_next_job("w", lease_seconds=0.0)
        store.expire_leases(time.time() + 1, max_attempts=2)
    final = store.get_job("tn_a", "job_1")
    assert final.state is JobState.FAILED
    assert "gave up after 2 attempts" in final.error


def test_cancel_queued_ends_at_once_and_running_asks_the_worker(store):
    store.create_job(job("job_q"))
    assert store.request_cancel("tn_a", "job_q").state is JobState.CANCELLED
    store.create_job(job("job_r"))
    store.claim_next_job("w", 30)
    running = store.request_cancel("tn_a", "job_r")
    assert running.state is JobState.RUNNING and running.cancel_requested
    assert store.request_cancel("tn_a", "job_missing") is None
