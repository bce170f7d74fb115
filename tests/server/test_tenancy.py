"""Tenants are walled off from each other; quotas, revocation and the audit log work.

Tenant A gets one of everything (dataset, job, adapter version, logged request, feedback);
tenant B then tries every call that takes an id with A's ids and must get exactly the
NOT_FOUND a missing id gets, and no list may show A's rows.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

import tuneloop
from tuneloop.cli import app as cli
from tuneloop.v1 import worker_pb2, worker_pb2_grpc

SAMPLE = Path(tuneloop.__file__).parent / "samples" / "facts.jsonl"
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    settings = server_settings(tmp_path_factory.mktemp("tenancy") / "data", embedded_workers=0,
                               auth_cache_seconds=0.0, default_requests_per_second=None)
    with BackgroundServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server) -> tuneloop.Client:
    with tuneloop.Client(server.address, api_key=server.admin_key) as client:
        yield client


def tenant_client(server, admin: tuneloop.Client, name: str, **quotas) -> tuneloop.Client:
    admin.admin.create_tenant(name, tuneloop.types.Quotas(**quotas) if quotas else None)
    token = admin.admin.create_key(name, name=f"{name} tests").token
    return tuneloop.Client(server.address, api_key=token, max_retries=0)


def finish_job_as_worker(server, job_id: str) -> None:
    """Complete the queued job through WorkerService, the way a worker publishes."""
    auth = [("authorization", f"Bearer {server.plane.local_keys.worker_token}")]
    with grpc.insecure_channel(server.address) as channel:
        stub = worker_pb2_grpc.WorkerServiceStub(channel)
        worker_id = stub.RegisterWorker(worker_pb2.RegisterWorkerRequest(name="t"), metadata=auth).worker_id
        lease = stub.LeaseJob(worker_pb2.LeaseJobRequest(worker_id=worker_id, wait_seconds=5),
                              metadata=auth).assignment
        assert lease.job.id == job_id
        stub.CompleteJob(worker_pb2.CompleteJobRequest(
            worker_id=worker_id, job_id=job_id, attempt=lease.attempt,
            adapter_key=f"{lease.output_prefix}/adapter"), metadata=auth)


@pytest.fixture(scope="module")
def tenant_a(server, admin):
    """Tenant A's client and one of each thing A owns."""
    a = tenant_client(server, admin, "tenant-a")
    dataset = a.datasets.upload(SAMPLE, name="a-facts")
    job = a.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="facts")
    finish_job_as_worker(server, job.id)
    assert a.jobs.get(job.id).state == "succeeded"
    completion = a.inference.generate(model="smollm2-135m", messages=USER, max_tokens=1)
    a.feedback.submit(request_id=completion.request_id, correction="hello")
    return a, {"dataset": dataset.id, "job": job.id, "request": completion.request_id}


def not_found_message(call, *args, **kwargs) -> str:
    with pytest.raises(tuneloop.NotFoundError) as info:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return info.value.message


def test_tenant_b_gets_not_found_for_every_id_of_tenant_a(server, admin, tenant_a):
    a, ids = tenant_a
    b = tenant_client(server, admin, "tenant-b")
    own = b.datasets.upload(SAMPLE, name="b-facts")
    missing = {"dataset": "ds_0000000000000000", "job": "job_0000000000000000",
               "request": "req_0000000000000000"}

    calls = {
        "GetDataset": lambda i: b.datasets.get(i["dataset"]),
        "DeleteDataset": lambda i: b.datasets.delete(i["dataset"]),
        "CreateJob.dataset": lambda i: b.jobs.create(base_model="smollm2-135m", dataset=i["dataset"],
                                                      adapter="x"),
        "CreateJob.validation_dataset": lambda i: b.jobs.create(
            base_model="smollm2-135m", dataset=own.id, validation_dataset=i["dataset"], adapter="x"),
        "GetJob": lambda i: b.jobs.get(i["job"]),
        "CancelJob": lambda i: b.jobs.cancel(i["job"]),
        "WatchJob": lambda i: b.jobs.watch(i["job"]),
        "SubmitFeedback": lambda i: b.feedback.submit(request_id=i["request"], correction="mine now"),
    }
    for name, call in calls.items():
        theirs = not_found_message(call, ids)
        nobody = not_found_message(call, missing)
        # Same answer as for an id that does not exist: existence is not leaked.
        assert _without_ids(theirs, ids) == _without_ids(nobody, missing), name

    for model in ("facts", "facts@v1"):
        not_found_message(b.inference.generate, model=model, messages=USER)
        not_found_message(b.inference.stream, model=model, messages=USER)
    not_found_message(b.adapters.get, "facts")
    not_found_message(b.adapters.delete, "facts")

    assert [d.id for d in b.datasets.list()] == [own.id]
    assert b.jobs.list() == [] and b.adapters.list() == []
    assert b.feedback.list() == [] and b.feedback.list(adapter="facts") == []

    # Nothing B tried touched A's things.
    assert a.datasets.get(ids["dataset"]).status == "ready"
    assert a.jobs.get(ids["job"]).state == "succeeded"
    assert a.adapters.get("facts").latest_version == 1
    assert len(a.feedback.list()) == 1


def _without_ids(message: str, ids: dict[str, str]) -> str:
    for value in ids.values():
        message = message.replace(value, "<id>")
    return message


def test_adapter_names_and_objects_are_per_tenant(server, admin, tenant_a):
    a, ids = tenant_a
    c = tenant_client(server, admin, "tenant-c")
    dataset = c.datasets.upload(SAMPLE)
    # "facts" belongs to A; C has its own adapter namespace, so the name is free here.
    job = c.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="facts")
    assert job.state == "queued"
    c.jobs.cancel(job.id)
    objects = server.settings.objects_dir
    tenant_dirs = {p.name for p in (objects / "tenants").iterdir()}
    assert {"tn_default"} != tenant_dirs and len(tenant_dirs) >= 2
    assert not [p for p in objects.iterdir() if p.name != "tenants"], "objects outside tenant prefixes"


def test_quotas_answer_resource_exhausted_naming_the_limit(server, admin):
    d = tenant_client(server, admin, "tenant-d", max_concurrent_jobs=1, max_stored_bytes=20_000,
                      requests_per_second=1000)
    dataset = d.datasets.upload(SAMPLE)  # ~6 KB
    d.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="one")
    with pytest.raises(tuneloop.ResourceExhaustedError, match="max_concurrent_jobs"):
        d.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="two")
    d.datasets.upload(SAMPLE)
    with pytest.raises(tuneloop.ResourceExhaustedError, match="max_stored_bytes"):
        for _ in range(3):
            d.datasets.upload(SAMPLE)

    admin.admin.set_quotas("tenant-d", tuneloop.types.Quotas(requests_per_second=3))
    with pytest.raises(tuneloop.ResourceExhaustedError, match="requests_per_second"):
        for _ in range(20):
            d.jobs.list()
    time.sleep(1.1)
    assert len(d.jobs.list()) == 1  # the window moved on


def test_revoked_key_is_unauthenticated_and_the_audit_log_names_the_actor(server, admin):
    e = tenant_client(server, admin, "tenant-e")
    dataset = e.datasets.upload(SAMPLE)
    job = e.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="x")
    e.jobs.cancel(job.id)
    e.datasets.delete(dataset.id)
    [key] = admin.admin.list_keys("tenant-e")
    admin.admin.revoke_key(key.id)
    with pytest.raises(tuneloop.UnauthenticatedError, match="revoked"):
        e.jobs.list()

    entries = admin.admin.audit_events("tenant-e")
    assert [x.action for x in entries] == [
        "key.revoke", "dataset.delete", "job.cancel", "job.create", "dataset.upload", "key.create",
        "tenant.create"]
    by_tenant_key = {x.actor for x in entries if x.action.startswith(("job", "dataset"))}
    assert by_tenant_key == {key.id}
    assert all(x.tenant_id for x in entries)


def test_admin_cli_creates_a_tenant_and_a_key_that_works(server):
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(cli, ["--address", server.address, "admin", "--admin-key",
                                     server.admin_key, *args], terminal_width=200)
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "tenant-f" in run("tenants", "create", "tenant-f", "--max-concurrent-jobs", "2")
    token = run("keys", "create", "--tenant", "tenant-f", "--name", "cli").strip().splitlines()[-1]
    with tuneloop.Client(server.address, api_key=token) as f:
        assert f.datasets.list() == []
    assert "tenant-f" in run("tenants", "list")
    assert "key.create" in run("audit", "--tenant", "tenant-f")

    denied = runner.invoke(cli, ["--address", server.address, "admin", "--admin-key",
                                 server.api_key, "tenants", "list"])
    assert denied.exit_code == 1 and "admin" in denied.output


def test_async_client_has_the_same_admin_calls(server):
    import asyncio

    async def scenario() -> list[str]:
        async with tuneloop.AsyncClient(server.address, api_key=server.admin_key) as admin:
            await admin.admin.create_tenant("tenant-g")
            created = await admin.admin.create_key("tenant-g", name="async")
            await admin.admin.revoke_key(created.key.id)
            return [e.action for e in await admin.admin.audit_events("tenant-g")]

    assert asyncio.run(scenario()) == ["key.revoke", "key.create", "tenant.create"]
