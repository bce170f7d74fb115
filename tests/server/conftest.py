"""Store fixtures shared by the store tests: every backend, one or two stores per database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneloop_server.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def store(url: str):
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def replicas(url: str):
    """Two stores on one database, each with its own connection pool: two control planes."""
    stores = [open_store(url), open_store(url)]
    yield stores
    for s in stores:
        s.close()
