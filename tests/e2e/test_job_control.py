"""Cancelling, failing clearly, and a worker running as its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tuneloop

TINY = {"epochs": 1, "batch_size": 4, "max_seq_length": 64}


def tiny_dataset(client: tuneloop.Client, tmp_path: Path, n: int = 8) -> tuneloop.Dataset:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"Say {i}", "completion": f"{i}"}) + "\n"
                            for i in range(n)))
    return client.datasets.upload(path)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_cancel_stops_training_and_the_worker_takes_the_next_job(server_factory, tmp_path):
    server = server_factory()
    with server.client() as client:
        dataset = tiny_dataset(client, tmp_path, n=64)
        long_job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="long",
                                      hyperparameters={"epochs": 50, "batch_size": 2})
        next_job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="next",
                                      hyperparameters={**TINY, "epochs": 1})
        for event in client.jobs.watch(long_job.id):
            if event.type == "metrics":
                break  # training is really running
        asked = time.monotonic()
        client.jobs.cancel(long_job.id)
        with pytest.raises(tuneloop.JobFailedError) as info:
            client.jobs.wait(long_job.id, timeout=60)
        assert info.value.job.state == "cancelled"
        assert time.monotonic() - asked < 20
        assert info.value.job.step < info.value.job.total_steps
        done = client.jobs.wait(next_job.id, timeout=300)
        assert done.state == "succeeded" and done.adapter_version == 1
        assert client.jobs.cancel(long_job.id).state == "cancelled"  # idempotent


def test_qlora_without_cuda_fails_the_job_with_a_clear_message(server_factory, tmp_path):
    server = server_factory()
    with server.client() as client:
        dataset = tiny_dataset(client, tmp_path)
        job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="q",
                                 method="qlora", hyperparameters=TINY)
        with pytest.raises(tuneloop.JobFailedError) as info:
            client.jobs.wait(job.id, timeout=120)
        assert info.value.job.state == "failed"
        assert "CUDA" in info.value.job.error and "lora" in info.value.job.error


def test_separate_worker_process_trains_a_job(server_factory, tmp_path, model_cache):
    server = server_factory(embedded_workers=0)
    # The worker finds its token in the server's data dir, as on a one-machine install.
    env = {**os.environ, "TUNELOOP_CACHE_DIR": str(model_cache)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "tuneloop.cli", "worker", "--address", server.plane.address,
         "--data-dir", str(server.settings.data_dir), "--name", "separate"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with server.client() as client:
            dataset = tiny_dataset(client, tmp_path)
            job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="sep",
                                     validation_dataset=dataset.id, hyperparameters=TINY)
            done = client.jobs.wait(job.id, timeout=300)
            assert done.state == "succeeded"
            events = list(client.jobs.watch(job.id))
            running = [e for e in events if e.state == "running" and e.type == "state"]
            assert "wrk_" in running[0].message
            evals = [e for e in events if e.type == "eval"]
            assert evals and evals[-1].metrics["eval_loss"] > 0
            out = client.inference.generate(model="sep", messages=[{"role": "user", "content": "Say 3"}],
                                            max_tokens=4)
            assert out.model == "sep@v1"
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=30)
    assert "registered" in output
