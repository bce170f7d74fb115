"""The job queue's guarantees with real processes: idempotent creates under concurrency,
several control-plane replicas and workers sharing one PostgreSQL queue, and a control plane
killed with SIGKILL right after accepting a job.

Everything listens on loopback only; PostgreSQL runs in a throwaway cluster (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tuneloop

SAMPLE = Path(tuneloop.__file__).parent / "samples" / "facts.jsonl"
DRAIN_WORKER = Path(__file__).with_name("drain_worker.py")
TINY = {"epochs": 1, "batch_size": 4, "max_seq_length": 64}
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None: the server's default SQLite file in its data dir; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("fresh_postgres_url")


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(**tuneloop_vars: object) -> dict[str, str]:
    """This environment without the developer's TUNELOOP_* settings, plus `tuneloop_vars`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELOOP_")}
    env.update({f"TUNELOOP_{k.upper()}": str(v) for k, v in tuneloop_vars.items() if v is not None})
    return env


class Proc:
    """A child process whose output goes to a log file (a pipe nobody reads could fill up)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._file = open(log, "w")
        self.popen = subprocess.Popen(args, env=env, stdout=self._file, stderr=subprocess.STDOUT,
                                      text=True)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._file.close()
        return self.popen.returncode


def start_server(data_dir: Path, port: int, env: dict[str, str], log: Path) -> Proc:
    return Proc([sys.executable, "-m", "tuneloop.cli", "server", "--address", f"127.0.0.1:{port}",
                 "--data-dir", str(data_dir), "--workers", "0"], env, log)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_ready(client: tuneloop.Client, proc: Proc, timeout: float = 90) -> None:
    def answers() -> bool:
        assert proc.popen.poll() is None, f"server exited:\n{proc.output()[-3000:]}"
        try:
            client.datasets.list()
            return True
        except tuneloop.UnavailableError:
            return False

    wait_for(answers, timeout, "the server to answer")


@pytest.fixture
def processes():
    """Processes a test starts; whatever is still running at the end gets SIGTERM, then SIGKILL."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


# -- a: idempotent creates -----------------------------------------------------------------------


def test_twenty_concurrent_creates_with_one_idempotency_key_make_one_job(
        database_url, server_settings, tmp_path):
    from tuneloop_server.embedded import BackgroundServer

    settings = server_settings(tmp_path / "data", embedded_workers=0, database_url=database_url,
                               default_max_concurrent_jobs=None, default_requests_per_second=None)
    with BackgroundServer(settings) as server, server.client() as client:
        dataset = client.datasets.upload(SAMPLE)
        start = threading.Barrier(20)

        def create(_: int) -> str:
            start.wait()
            return client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="x",
                                      idempotency_key="same").id

        with ThreadPoolExecutor(20) as pool:
            ids = list(pool.map(create, range(20)))
        assert len(set(ids)) == 1, Counter(ids)
        assert [j.id for j in client.jobs.list()] == [ids[0]]
        states = [e.state for e in server.plane.store.list_events(ids[0], 0) if e.type.value == "state"]
        assert states == ["queued"], "one job, queued once"
        creates = [e for e in server.plane.store.list_audit() if e.action == "job.create"]
        assert [e.resource for e in creates] == [ids[0]], "one job.create in the audit log"


# -- b: two replicas, two workers, one PostgreSQL queue -----------------------------------------


def make_tiny_adapter(base_model_dir: Path, out: Path) -> Path:
    """A real LoRA (rank 1 on q_proj) for the base model: the replicas preload it in ~0.1 s."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=1, lora_alpha=2, target_modules=["q_proj"]))
    peft_model.save_pretrained(out)
    assert (out / "adapter_config.json").is_file()
    return out


def test_two_replicas_and_two_workers_drain_200_jobs_exactly_once(
        fresh_postgres_url, base_model_dir, model_cache, tmp_path, processes):
    began = time.monotonic()
    adapter_dir = make_tiny_adapter(base_model_dir, tmp_path / "tiny-adapter")
    # The replicas' own cache (adapters they download land there) with the shared base model.
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "base_models").symlink_to(model_cache / "base_models", target_is_directory=True)
    # Both replicas share the object store, so one data dir (its SQLite file goes unused).
    data = tmp_path / "shared"
    env = process_env(database_url=fresh_postgres_url, default_max_concurrent_jobs=1000,
                      default_requests_per_second=100000, lease_seconds=10, cache_dir=cache)
    ports = [free_port(), free_port()]
    addresses = [f"127.0.0.1:{p}" for p in ports]

    # Replica 1 writes the keys into the data dir; replica 2 finds them valid in the shared
    # database and reuses them.
    processes.append(start_server(data, ports[0], env, tmp_path / "replica-1.log"))
    wait_for(lambda: (data / "worker.token").is_file(), 90, "replica 1 to write its keys")
    processes.append(start_server(data, ports[1], env, tmp_path / "replica-2.log"))
    api_key = (data / "api.key").read_text().strip()
    worker_token = (data / "worker.token").read_text().strip()
    clients = [tuneloop.Client(a, api_key=api_key) for a in addresses]
    try:
        for client, proc in zip(clients, processes):
            wait_ready(client, proc)
        assert (data / "api.key").read_text().strip() == api_key, "replica 2 kept the keys"

        # Load the base model into each replica's serving engine now, so the first CompleteJob
        # (which preloads the adapter) does not spend a lease's worth of time on it.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda c: c.inference.generate(model="smollm2-135m", messages=USER,
                                                         max_tokens=1), clients))

        workers = []
        for i, address in enumerate(addresses, start=1):
            workers.append(Proc([sys.executable, str(DRAIN_WORKER), address, worker_token,
                                 str(data / "objects"), str(adapter_dir), f"drain-{i}"],
                                process_env(), tmp_path / f"worker-{i}.log"))
            processes.append(workers[-1])
        for w in workers:
            wait_for(lambda: "registered" in w.output(), 60, "the drain workers to register")

        # Queue through replica 1 while both workers are already draining.
        dataset = clients[0].datasets.upload(SAMPLE)
        names = [f"adapter-{i}" for i in range(10)]
        queued = time.monotonic()
        jobs = [clients[0].jobs.create(base_model="smollm2-135m", dataset=dataset.id,
                                       adapter=names[i % 10]) for i in range(200)]
        created_s = time.monotonic() - queued
        by_name = defaultdict(set)
        for job in jobs:
            by_name[job.adapter].add(job.id)

        def succeeded() -> bool:
            return len(clients[1].jobs.list(state="succeeded")) == 200

        wait_for(succeeded, 150, "all 200 jobs to succeed")
        drained_s = time.monotonic() - queued

        # Each worker says how many it completed, and which.
        counts, completed = [], []
        for w in workers:
            assert w.stop() == 0, w.output()[-3000:]
            out = w.output()
            counts.append(int(re.search(r"DONE completed=(\d+)", out).group(1)))
            completed += re.findall(r"completed (job_\w+) v \d+", out)
            assert "lost " not in out, out
        assert sum(counts) == 200 and all(counts), counts
        assert sorted(completed) == sorted(j.id for j in jobs), "every job completed exactly once"

        final = {j.id: j for j in clients[1].jobs.list()}
        assert len(final) == 200
        for job in final.values():
            assert (job.state, job.attempt) == ("succeeded", 1), job
        # Every job reports exactly one succeeded STATE event, after exactly one claim.
        for job_id in list(final)[::10]:
            events = list(clients[1].jobs.watch(job_id))
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            states = [e.state for e in events if e.type == "state"]
            assert states == ["queued", "running", "succeeded"], (job_id, events)
        # Versions per adapter: 1..20, one per job, no two jobs with the same version.
        for name in names:
            adapter = clients[0].adapters.get(name)
            assert sorted(v.version for v in adapter.versions) == list(range(1, 21)), name
            assert {v.job_id for v in adapter.versions} == by_name[name]
            for v in adapter.versions:
                assert final[v.job_id].adapter_version == v.version
        for proc in processes[:2]:
            assert proc.stop() == 0, proc.output()[-3000:]
            assert "Traceback" not in proc.output(), proc.output()[-5000:]
        print(f"\n200 jobs: queued in {created_s:.1f}s, all succeeded {drained_s:.1f}s after the "
              f"first create; per worker {counts}; test {time.monotonic() - began:.0f}s")
    finally:
        for client in clients:
            client.close()


# -- c: SIGKILL right after CreateJob -----------------------------------------------------------


def test_control_plane_killed_right_after_create_job_keeps_the_job(
        database_url, model_cache, tmp_path, processes):
    data = tmp_path / "data"
    env = process_env(database_url=database_url, cache_dir=model_cache, lease_seconds=10)
    train = tmp_path / "tiny.jsonl"
    train.write_text("".join(json.dumps({"prompt": "Say i", "completion": "i"}) + "\n"
                             for _ in range(8)))
    port = free_port()
    address = f"127.0.0.1:{port}"

    server = start_server(data, port, env, tmp_path / "server-1.log")
    processes.append(server)
    wait_for(lambda: (data / "api.key").is_file(), 90, "the server's key file")
    api_key = (data / "api.key").read_text().strip()
    with tuneloop.Client(address, api_key=api_key, max_retries=0) as client:
        wait_ready(client, server)
        dataset = client.datasets.upload(train)
        job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="kept",
                                 hyperparameters=TINY, idempotency_key="kill-9")
    server.stop(signal.SIGKILL)  # no shutdown, no flush: only what was committed survives
    assert server.popen.returncode == -signal.SIGKILL

    server = start_server(data, port, env, tmp_path / "server-2.log")
    processes.append(server)
    with tuneloop.Client(address, api_key=api_key) as client:
        wait_ready(client, server)
        kept = client.jobs.get(job.id)
        assert (kept.state, kept.attempt) == ("queued", 0)
        # A client retrying its create after the crash gets the same job back.
        again = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="kept",
                                   hyperparameters=TINY, idempotency_key="kill-9")
        assert again.id == job.id and len(client.jobs.list()) == 1

        processes.append(Proc([sys.executable, "-m", "tuneloop.cli", "worker", "--address", address,
                               "--data-dir", str(data), "--name", "w"],
                              process_env(cache_dir=model_cache, lease_wait_seconds=2),
                              tmp_path / "worker.log"))
        try:
            done = client.jobs.wait(job.id, timeout=300)
        except tuneloop.JobFailedError as exc:
            raise AssertionError(f"{exc}\n{processes[-1].output()[-3000:]}") from None
        assert done.state == "succeeded" and done.attempt == 1 and done.adapter_version == 1
        assert client.adapters.get("kept").latest_version == 1
    assert processes[-1].stop() == 0, processes[-1].output()[-3000:]
    assert server.stop() == 0, server.output()[-3000:]
