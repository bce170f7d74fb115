"""The job store on SQLite and on PostgreSQL: migrations, gap-free events, exclusive claims,
fencing, leases, and the same guarantees when several processes share one database.

Every test taking `store` (or `url`) runs once per backend; PostgreSQL tests get a fresh
database in the session's throwaway cluster (see tests/conftest.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from store_records import job
from tuneloop_server.errors import InvalidArgument, ResourceExhausted, StaleAttempt
from tuneloop_server.store import open_store
from tuneloop_server.store.records import (
    AuditRecord,
    EventType,
    JobState,
    NewEvent,
)
from tuneloop_server.store.schema import metadata


def test_migrations_produce_exactly_the_declared_schema(store):
    with store.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    with store.write_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.close()


def test_a_plain_postgresql_url_selects_psycopg(postgres_url):
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    store = open_store(plain)
    assert store.write_engine.dialect.driver == "psycopg"
    assert store.list_tenants() is not None
    store.close()


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


def test_rows_from_before_tenancy_move_to_the_default_tenant(url):
    from tuneloop_server.store import migrate
    from tuneloop_server.store.sql_store import SqlJobStore

    old = SqlJobStore(url)
    migrate.upgrade(old.write_engine, "0001")
    with old.write_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO jobs (id, state, base_model, dataset_id, adapter, method, hyperparameters,"
            " include_feedback, idempotency_key, metrics, created_at)"
            " VALUES ('job_old', 'succeeded', 'b', 'ds', 'a', 'lora', '{}', false, 'k', '{}', 0)")
        conn.exec_driver_sql("INSERT INTO adapter_versions VALUES ('a', 1, 'b', 'job_old', 'k', 0)")
    migrate.upgrade(old.write_engine)
    assert store_tenant_of(old) == ("tn_default", "default")
    assert old.get_job("tn_default", "job_old").state is JobState.SUCCEEDED
    assert old.get_adapter_version("tn_default", "a").job_id == "job_old"
    # The constraints 0002 rebuilt are in force: the key is unique per tenant, not globally,
    # and versions are numbered per tenant.
    assert old.create_job(job("job_new", key="k", tenant="tn_default"))[1] is False
    assert old.create_job(job("job_other", key="k", tenant="tn_b"))[1] is True
    with old.write_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
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


def test_retry_or_fail_requeues_until_attempts_run_out(store):
    store.create_job(job("job_1"))
    first = store.claim_next_job("w", 30)
    assert store.retry_or_fail("job_1", first.attempt, "oom", max_attempts=2).state is JobState.QUEUED
    second = store.claim_next_job("w", 30)
    assert second.attempt == 2
    with pytest.raises(StaleAttempt):
        store.retry_or_fail("job_1", first.attempt, "late", max_attempts=2)
    final = store.retry_or_fail("job_1", second.attempt, "oom again", max_attempts=2)
    assert final.state is JobState.FAILED and "gave up after 2 attempts" in final.error


def test_queue_position_and_recent_run_seconds(store):
    for i in range(3):
        store.create_job(job(f"job_{i}", tenant="tn_a" if i != 1 else "tn_b"))
    assert store.queue_position(store.get_job("tn_a", "job_2")) == 3
    done = store.claim_next_job("w", 30)
    store.finish_job(done.id, done.attempt, JobState.SUCCEEDED)
    assert store.queue_position(store.get_job("tn_a", "job_2")) == 2
    [seconds] = store.recent_run_seconds()
    assert 0 <= seconds < 60


# -- several writers on one database -----------------------------------------------------------
# Threads on one store share a pool; `replicas` are separate stores, like two control planes.


def test_audit_ids_increase_and_json_round_trips(store):
    for i in range(3):
        store.record_audit(AuditRecord(tenant_id="tn_a", actor="key_1", action="jobs.create",
                                       resource=f"job_{i}", detail={"n": i, "ok": True, "x": 0.5},
                                       created_at=time.time()))
    newest = store.list_audit("tn_a")
    assert [e.resource for e in newest] == ["job_2", "job_1", "job_0"]
    assert newest[0].detail == {"n": 2, "ok": True, "x": 0.5}
    assert newest[0].id > newest[1].id > newest[2].id


def test_postgresql_refuses_nul_and_overlong_text_as_invalid_input(fresh_postgres_url):
    store = open_store(fresh_postgres_url)
    try:
        with pytest.raises(InvalidArgument, match="cannot be stored"):
            store.create_job(job("job_1", key="nul\x00key"))
        with pytest.raises(InvalidArgument, match="cannot be stored"):
            store.create_job(job("job_2", key="k" * 500))
        assert store.list_jobs("tn_a") == []
    finally:
        store.close()


def test_last_seqs_reports_each_existing_job(store):
    store.create_job(job("job_1"))
    store.create_job(job("job_2"))
    store.claim_next_job("w", 30)
    assert store.last_seqs(["job_1", "job_2", "job_missing"]) == {"job_1": 2, "job_2": 1}
