"""Crashes do not lose work or publish twice: real worker processes, killed and frozen.

Workers run as `tuneloop worker` processes against a real control plane; leases are short
(5 s) so a lost worker is noticed quickly. Checkpoints go to the object store every two steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tuneloop

pytestmark = pytest.mark.slow

HYPERPARAMETERS = {"epochs": 8, "batch_size": 4, "max_seq_length": 64, "checkpoint_every_steps": 2}


@pytest.fixture
def server(server_factory):
    return server_factory(embedded_workers=0, lease_seconds=5.0, heartbeat_seconds=0.5)


@pytest.fixture
def start_worker(server, model_cache, tmp_path):
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "tuneloop.cli", "worker", "--address", server.address,
             "--data-dir", str(server.settings.data_dir), "--name", name],
            env={**os.environ, "TUNELOOP_CACHE_DIR": str(model_cache)},
            stdout=log, stderr=subprocess.STDOUT)
        process.log_path = tmp_path / f"{name}.log"
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
        process.wait(30)


def queue_job(client: tuneloop.Client, tmp_path: Path, adapter: str) -> tuneloop.Job:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Say {i}", "completion": f"{i}"}) + "\n"
                            for i in range(16)))
    dataset = client.datasets.upload(path)
    return client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter=adapter,
                              hyperparameters=HYPERPARAMETERS)


def first_event(client: tuneloop.Client, job_id: str, predicate) -> tuneloop.JobEvent:
    for event in client.jobs.watch(job_id):
        if predicate(event):
            return event
    raise AssertionError(f"job {job_id} ended before the awaited event")


def test_killed_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(
        server, start_worker, tmp_path):
    with server.client() as client:
        job = queue_job(client, tmp_path, "resumed")
        first = start_worker("first")
        checkpoint = first_event(client, job.id, lambda e: e.type == "checkpoint" and e.step >= 4)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        start_worker("second")
        done = client.jobs.wait(job.id, timeout=600)

        assert done.state == "succeeded" and done.attempt == 2
        events = list(client.jobs.watch(job.id))
        resumed = [e for e in events if "resumed from step-" in e.message]
        assert resumed, [e.message for e in events]
        resumed_step = int(resumed[0].message.split("step-")[1].split()[0])
        assert resumed_step >= checkpoint.step  # not from scratch
        second_attempt = events[events.index(resumed[0]):]
        assert min(e.step for e in second_attempt if e.type == "metrics") == resumed_step + 1
        assert [e.state for e in events if e.type == "state"].count("succeeded") == 1
        assert [v.job_id for v in client.adapters.get("resumed").versions] == [job.id]


def test_a_frozen_worker_past_its_lease_cannot_write_after_it_wakes(server, start_worker, tmp_path):
    with server.client() as client:
        job = queue_job(client, tmp_path, "fenced")
        frozen = start_worker("frozen")
        first_event(client, job.id, lambda e: e.type == "metrics")
        frozen.send_signal(signal.SIGSTOP)  # alive, holding its lease, silent
        first_event(client, job.id, lambda e: e.type == "state" and e.state == "queued"
                    and "stopped responding" in e.message)
        start_worker("successor")
        first_event(client, job.id, lambda e: e.type == "state" and e.state == "running")
        frozen.send_signal(signal.SIGCONT)  # wakes mid-step with a stale attempt number
        done = client.jobs.wait(job.id, timeout=600)
        assert done.state == "succeeded" and done.attempt == 2

        deadline = time.monotonic() + 60
        while "lease lost" not in frozen.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "lease lost" in frozen.log_path.read_text()
        versions = client.adapters.get("fenced").versions
        assert [(v.version, v.job_id) for v in versions] == [(1, job.id)]
        events = list(client.jobs.watch(job.id))
        assert [e.state for e in events if e.type == "state"].count("succeeded") == 1


def test_a_job_whose_training_always_crashes_fails_after_the_maximum_attempts(
        server_factory, tmp_path):
    server = server_factory(max_attempts=3)
    with server.client() as client:
        path = tmp_path / "data.jsonl"
        path.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
        dataset = client.datasets.upload(path)
        # The object store loses the file: every attempt crashes while fetching it.
        record = server.plane.store.get_dataset("tn_default", dataset.id)
        (server.settings.objects_dir / record.object_key).unlink()
        job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="doomed")
        with pytest.raises(tuneloop.JobFailedError) as info:
            client.jobs.wait(job.id, timeout=120)
        failed = info.value.job
        assert failed.state == "failed" and failed.attempt == 3
        assert "gave up after 3 attempts" in failed.error and "FileNotFoundError" in failed.error
        requeued = [e for e in client.jobs.watch(job.id) if e.state == "queued" and "crashed" in e.message]
        assert len(requeued) == 2


def test_queued_jobs_show_their_place_in_line(server_factory, tmp_path):
    server = server_factory(embedded_workers=0)
    with server.client() as client:
        path = tmp_path / "data.jsonl"
        path.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
        dataset = client.datasets.upload(path)
        jobs = [client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter=f"q{i}")
                for i in range(3)]
        assert [client.jobs.get(j.id).queue_position for j in jobs] == [1, 2, 3]
        assert [j.queue_position for j in client.jobs.list()] == [1, 2, 3]
        client.jobs.cancel(jobs[0].id)
        assert client.jobs.get(jobs[2].id).queue_position == 2
        assert client.jobs.get(jobs[0].id).queue_position == 0  # not queued any more
