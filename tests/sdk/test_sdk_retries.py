"""Retries: only UNAVAILABLE, with one idempotency key for every attempt; auth and address."""

from __future__ import annotations

import uuid

import grpc
import pytest

import tuneloop

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "server restarting")


def test_create_job_retries_unavailable_with_the_same_key(state, client, ready_dataset):
    state.faults["CreateJob"] += [UNAVAILABLE, UNAVAILABLE]
    job = client.jobs.create(base_model="smollm2-135m", dataset=ready_dataset, adapter="math")
    assert state.calls["CreateJob"] == 3
    assert len(state.create_keys) == 3
    assert len(set(state.create_keys)) == 1
    uuid.UUID(state.create_keys[0])  # a generated uuid4, not an empty string
    assert job.id == "job-1" and job.state == "queued"


def test_two_creates_get_different_keys(state, client, ready_dataset):
    for _ in range(2):
        client.jobs.create(base_model="m", dataset=ready_dataset.id, adapter="math")
    assert len(set(state.create_keys)) == 2
    assert len(state.jobs) == 2


def test_given_idempotency_key_is_sent_and_dedupes(state, client, ready_dataset):
    a = client.jobs.create(base_model="m", dataset=ready_dataset, adapter="x",
                           idempotency_key="run-42")
    b = client.jobs.create(base_model="m", dataset=ready_dataset, adapter="x",
                           idempotency_key="run-42")
    assert state.create_keys == ["run-42", "run-42"]
    assert a.id == b.id


def test_no_retry_on_invalid_argument(state, client, ready_dataset):
    state.faults["CreateJob"].append((grpc.StatusCode.INVALID_ARGUMENT, "lora_rank must be > 0"))
    with pytest.raises(tuneloop.InvalidArgumentError, match="lora_rank must be > 0"):
        client.jobs.create(base_model="m", dataset=ready_dataset, adapter="x")
    assert state.calls["CreateJob"] == 1


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_no_retry_on_other_codes(state, client, code):
    state.faults["ListJobs"].append((code, "no"))
    with pytest.raises(tuneloop.TuneloopError):
        client.jobs.list()
    assert state.calls["ListJobs"] == 1


def test_gives_up_after_max_retries(state, address):
    state.faults["ListDatasets"] += [UNAVAILABLE] * 5
    with tuneloop.Client(address, max_retries=2) as client:
        with pytest.raises(tuneloop.UnavailableError, match="server restarting"):
            client.datasets.list()
    assert state.calls["ListDatasets"] == 3


def test_unreachable_server_raises_unavailable():
    with tuneloop.Client("127.0.0.1:1", max_retries=1, timeout=5) as client:
        with pytest.raises(tuneloop.UnavailableError):
            client.adapters.list()


def test_api_key_sent_as_bearer_on_every_call(state, address):
    with tuneloop.Client(address, api_key="sk-test") as client:
        client.adapters.list()
        client.jobs.list()
    assert [m.get("authorization") for m in state.metadata] == ["Bearer sk-test"] * 2


def test_env_fallbacks(state, fake_server, monkeypatch):
    monkeypatch.setenv("TUNELOOP_ADDRESS", fake_server.address)
    monkeypatch.setenv("TUNELOOP_API_KEY", "sk-env")
    with tuneloop.Client() as client:
        assert client.address == fake_server.address
        client.adapters.list()
    assert state.metadata[-1]["authorization"] == "Bearer sk-env"


def test_no_key_no_authorization_header(state, client):
    client.adapters.list()
    assert "authorization" not in state.metadata[-1]
    with tuneloop.Client() as default:
        assert default.address == "localhost:50051"


def test_backoff_is_jittered_exponential_and_capped():
    from tuneloop import _transport

    for n in range(1, 12):
        cap = min(_transport.BACKOFF_MAX, _transport.BACKOFF_BASE * 2 ** (n - 1))
        delays = [_transport.backoff_delay(n) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays)
        assert len(set(delays)) > 1  # jitter: clients cut off together do not retry in step


def test_negative_max_retries_rejected():
    with pytest.raises(ValueError, match="max_retries"):
        tuneloop.Client("127.0.0.1:1", max_retries=-1)
