"""AsyncClient mirrors Client: the same retries, resumable watch, errors and streams."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import pytest

import tuneloop

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "server restarting")


def run(coro):
    return asyncio.run(coro)


async def _dataset(client: tuneloop.AsyncClient, tmp_path) -> tuneloop.Dataset:
    path = tmp_path / "a.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n' * 4)
    return await client.datasets.upload(path, chunk_size=10)


def test_async_upload_and_create_retry_same_key(state, address, tmp_path):
    async def scenario():
        async with tuneloop.AsyncClient(address) as client:
            ds = await _dataset(client, tmp_path)
            state.faults["CreateJob"] += [UNAVAILABLE] * 3
            job = await client.jobs.create(base_model="m", dataset=ds, adapter="a",
                                           hyperparameters={"lora_rank": 8})
            return ds, job

    ds, job = run(scenario())
    data = (tmp_path / "a.jsonl").read_bytes()
    assert ds.sha256 == hashlib.sha256(data).hexdigest() and ds.num_examples == 4
    assert [e[0] for e in state.upload_log].count("chunk") == -(-len(data) // 10)
    assert state.calls["CreateJob"] == 4 and len(set(state.create_keys)) == 1
    assert job.hyperparameters == {"lora_rank": 8}


def test_async_no_retry_on_invalid_argument(state, address):
    state.faults["ListJobs"].append((grpc.StatusCode.INVALID_ARGUMENT, "bad filter"))

    async def scenario():
        async with tuneloop.AsyncClient(address) as client:
            await client.jobs.list()

    with pytest.raises(tuneloop.InvalidArgumentError, match="bad filter"):
        run(scenario())
    assert state.calls["ListJobs"] == 1


def test_async_unknown_hyperparameter_rejected_locally(state, address):
    async def scenario():
        async with tuneloop.AsyncClient(address) as client:
            await client.jobs.create(base_model="m", dataset="ds-1", adapter="a",
                                     hyperparameters={"rank": 8})

    with pytest.raises(tuneloop.InvalidArgumentError, match="'rank'.*lora_rank"):
        run(scenario())
    assert state.calls["CreateJob"] == 0


def test_async_watch_resumes_and_wait_fails(state, address, tmp_path):
    async def scenario():
        async with tuneloop.AsyncClient(address) as client:
            ds = await _dataset(client, tmp_path)
            ok = await client.jobs.create(base_model="m", dataset=ds, adapter="a")
            state.watch_drops += [2, 6]
            seqs = [e.seq async for e in client.jobs.watch(ok.id)]
            done = await client.jobs.wait(ok.id, timeout=10)
            bad = await client.jobs.create(base_model="broken-model", dataset=ds, adapter="a")
            seen = []

            async def on_event(event):  # coroutine callbacks are awaited
                seen.append(event.seq)

            with pytest.raises(tuneloop.JobFailedError) as info:
                await client.jobs.wait(bad.id, on_event=on_event)
            return seqs, done, info.value, seen

    seqs, done, failure, seen = run(scenario())
    assert seqs == list(range(1, 12))
    assert state.watch_after_seqs[:3] == [0, 2, 8]
    assert done.state == "succeeded"
    assert failure.job.state == "failed" and failure.job.error == "out of memory"
    assert seen == list(range(1, len(seen) + 1)) and len(seen) >= 3


def test_async_wait_times_out(address, tmp_path):
    async def scenario():
        async with tuneloop.AsyncClient(address) as client:
            ds = await _dataset(client, tmp_path)
            job = await client.jobs.create(base_model="slow-model", dataset=ds, adapter="a")
            await client.jobs.wait(job.id, timeout=0.3)

    with pytest.raises(tuneloop.WaitTimeoutError):
        run(scenario())


def test_async_errors_inference_and_feedback(state, address):
    state.faults["GetAdapter"].append((grpc.StatusCode.PERMISSION_DENIED, "read-only key"))
    msgs = [{"role": "user", "content": "one two"}]

    async def scenario():
        async with tuneloop.AsyncClient(address, api_key="k1") as client:
            with pytest.raises(tuneloop.PermissionDeniedError, match="read-only key"):
                await client.adapters.get("support")
            out = await client.inference.generate(model="support", messages=msgs)
            chunks = [c async for c in client.inference.stream(model="support", messages=msgs)]
            fb = await client.feedback.submit(request_id=out.request_id, correction="three")
            with pytest.raises(tuneloop.InvalidArgumentError, match=r"messages\[0\]"):
                client.inference.stream(model="support", messages=[{"content": "x"}])
            return out, chunks, fb, await client.feedback.list()

    out, chunks, fb, listed = run(scenario())
    assert out.text == "echo: one two"
    assert "".join(c.text for c in chunks) == "echo: one two"
    assert chunks[-1].usage == tuneloop.Usage(7, 3)
    assert fb.correction == "three" and fb.rating is None and [f.id for f in listed] == [fb.id]
    assert {m.get("authorization") for m in state.metadata} == {"Bearer k1"}
