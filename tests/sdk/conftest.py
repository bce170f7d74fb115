"""Fixtures for the SDK tests: one in-memory fake server per session, fresh state per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_fake_server import FakeServer, FakeState

import tuneloop
from tuneloop import _transport
from tuneloop.resources import jobs as jobs_resource


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # The retry curve is the same, only scaled down, so retry tests take milliseconds.
    monkeypatch.setattr(_transport, "BACKOFF_BASE", 0.005)
    monkeypatch.setattr(_transport, "BACKOFF_MAX", 0.02)
    monkeypatch.setattr(jobs_resource, "REWATCH_PAUSE", 0.01)
    monkeypatch.delenv("TUNELOOP_ADDRESS", raising=False)
    monkeypatch.delenv("TUNELOOP_API_KEY", raising=False)
    # No key file either: a developer's own ~/.tuneloop/api.key must not leak into these tests.
    monkeypatch.setenv("TUNELOOP_DATA_DIR", str(tmp_path))


@pytest.fixture
def state(fake_server: FakeServer) -> FakeState:
    return fake_server.reset()


@pytest.fixture
def address(fake_server: FakeServer, state: FakeState) -> str:
    return fake_server.address


@pytest.fixture
def client(address: str) -> Iterator[tuneloop.Client]:
    with tuneloop.Client(address, timeout=10) as c:
        yield c


@pytest.fixture
def ready_dataset(client: tuneloop.Client, tmp_path) -> tuneloop.Dataset:
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "2+2", "completion": "4"}\n' * 3)
    return client.datasets.upload(path, name="math")
