"""Fixtures shared by every test package: the base-model cache and a real embedded server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the default base model is converted to safetensors, once per test session.

    Set TUNELOOP_TEST_CACHE_DIR to keep the conversion (~20 s) between local runs.
    """
    kept = os.environ.get("TUNELOOP_TEST_CACHE_DIR")
    return Path(kept) if kept else tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def base_model_dir(model_cache: Path) -> Path:
    from tuneloop_worker import base_models

    return base_models.materialize("smollm2-135m", model_cache)


@pytest.fixture(scope="session")
def server_settings(model_cache: Path):
    """Build ServerSettings for a test server: free port, short leases, shared model cache."""
    from tuneloop_server.config import ServerSettings

    def make(data_dir: Path, **overrides) -> ServerSettings:
        values = dict(address="127.0.0.1:0", data_dir=data_dir, cache_dir_override=model_cache,
                      lease_seconds=10.0, heartbeat_seconds=0.5, shutdown_grace_seconds=2.0)
        values.update(overrides)
        return ServerSettings(**values)

    return make


@pytest.fixture
def server_factory(tmp_path: Path, server_settings) -> Iterator:
    """Start real embedded servers (SQLite, local objects, in-process workers) on free ports."""
    from tuneloop_server.embedded import BackgroundServer

    started: list[BackgroundServer] = []

    def start(**overrides) -> BackgroundServer:
        data_dir = tmp_path / f"server-{len(started)}"
        server = BackgroundServer(server_settings(data_dir, **overrides))
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
