"""Watching and waiting: resumable streams, terminal states, timeouts."""

from __future__ import annotations

import time

import pytest

import tuneloop
from sdk_fake_jobs import TOTAL_STEPS

ALL_SEQS = list(range(1, TOTAL_STEPS + 7))  # queued, running, metrics..., log, ckpt, ready, done


def _job(client, dataset, model="smollm2-135m"):
    return client.jobs.create(base_model=model, dataset=dataset, adapter="support")


def test_watch_yields_every_event_in_order(state, client, ready_dataset):
    job = _job(client, ready_dataset)
    events = list(client.jobs.watch(job.id))
    assert [e.seq for e in events] == ALL_SEQS
    assert events[0].type == "state" and events[0].state == "queued"
    assert [e.step for e in events if e.type == "metrics"] == list(range(1, TOTAL_STEPS + 1))
    assert events[2].metrics["loss"] == pytest.approx(2.0)
    assert [e.type for e in events[-4:]] == ["log", "checkpoint", "adapter_ready", "state"]
    assert events[-1].state == "succeeded" and events[-1].job_id == job.id


def test_watch_resumes_after_unavailable_without_gap_or_duplicate(state, client, ready_dataset):
    job = _job(client, ready_dataset)
    state.watch_drops += [3, 4]  # cut the 1st stream after 3 events, the 2nd after 4 more
    seqs = [e.seq for e in client.jobs.watch(job.id)]
    assert seqs == ALL_SEQS
    assert state.watch_after_seqs == [0, 3, 7]


def test_watch_drops_replayed_events_from_a_server_ignoring_the_cursor(state, client,
                                                                      ready_dataset):
    job = _job(client, ready_dataset)
    state.watch_ignores_cursor = True
    state.watch_drops += [4]
    assert [e.seq for e in client.jobs.watch(job.id)] == ALL_SEQS
    assert state.watch_after_seqs == [0, 4]


def test_watch_after_seq_starts_after_the_cursor(state, client, ready_dataset):
    job = _job(client, ready_dataset)
    assert [e.seq for e in client.jobs.watch(job.id, after_seq=8)] == ALL_SEQS[8:]


def test_watch_gives_up_when_the_server_stays_down(state, address, ready_dataset):
    with tuneloop.Client(address, max_retries=2) as client:
        job = _job(client, ready_dataset)
        state.watch_drops += [0, 0, 0, 0]  # every stream fails before its first event
        with pytest.raises(tuneloop.UnavailableError):
            list(client.jobs.watch(job.id))
    assert state.watch_after_seqs == [0, 0, 0]


def test_wait_returns_terminal_job_and_reports_events(state, client, ready_dataset):
    job = _job(client, ready_dataset)
    state.watch_drops.append(5)
    seen = []
    done = client.jobs.wait(job.id, timeout=10, on_event=seen.append)
    assert done.state == "succeeded" and done.done and done.adapter_version == 1
    assert [e.seq for e in seen] == ALL_SEQS


def test_wait_raises_job_failed_error(client, ready_dataset):
    job = _job(client, ready_dataset, model="broken-model")
    with pytest.raises(tuneloop.JobFailedError) as info:
        client.jobs.wait(job.id, timeout=10)
    assert info.value.job.id == job.id
    assert info.value.job.state == "failed"
    assert "out of memory" in info.value.message


def test_wait_raises_on_cancelled(client, ready_dataset):
    job = _job(client, ready_dataset)
    assert client.jobs.cancel(job.id).state == "cancelled"
    with pytest.raises(tuneloop.JobFailedError, match="cancelled"):
        client.jobs.wait(job.id)


def test_wait_times_out(client, ready_dataset):
    job = _job(client, ready_dataset, model="slow-model")
    start = time.monotonic()
    with pytest.raises(tuneloop.WaitTimeoutError) as info:
        client.jobs.wait(job.id, timeout=0.5)
    assert 0.4 < time.monotonic() - start < 5
    assert info.value.job_id == job.id
    assert isinstance(info.value, TimeoutError)


def test_list_jobs_filters_by_state(client, ready_dataset):
    ok = _job(client, ready_dataset)
    bad = _job(client, ready_dataset, model="broken-model")
    assert {j.id for j in client.jobs.list()} == {ok.id, bad.id}
    assert [j.id for j in client.jobs.list(state="failed")] == [bad.id]
    assert client.jobs.get(ok.id).state == "succeeded"
