"""Fixtures shared by every test package: the base-model cache, a real embedded server, and a
throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:  # for the helper module beside this file
    sys.path.insert(0, str(Path(__file__).parent))
from postgres_cluster import PostgresCluster, binaries_missing  # noqa: E402


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


# -- PostgreSQL (tests/postgres_cluster.py) ---------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL 15 cluster per test session."""
    missing = binaries_missing()
    if missing:
        pytest.skip(missing)
    cluster = PostgresCluster()
    started = time.monotonic()
    try:
        cluster.start()
        print(f"PostgreSQL on 127.0.0.1:{cluster.port} in {time.monotonic() - started:.1f}s")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A database in the session's cluster, shared by the whole session."""
    return postgres_cluster.create_database("tuneloop")


@pytest.fixture
def fresh_postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A new empty database for one test (CREATE DATABASE takes a few milliseconds)."""
    return postgres_cluster.create_database()
