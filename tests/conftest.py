"""Fixtures shared by every test package: the base-model cache, a real embedded server, and a
throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
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


# -- PostgreSQL -------------------------------------------------------------------------------

PG_BIN = Path(os.environ.get("TUNELOOP_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "tuneloop"  # the cluster's superuser; trust auth on loopback only


class PostgresCluster:
    """A PostgreSQL cluster in a temp dir, owned by an unprivileged OS user (initdb refuses root),
    listening on a free loopback port only."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is private to root, and the server runs as another user.
        self.dir = Path(tempfile.mkdtemp(prefix="tuneloop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None

    def _cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return subprocess.run([*prefix, *args], cwd=self.dir, capture_output=True, text=True,
                              check=check, timeout=120)

    def start(self) -> None:
        if self.run_as:
            uid = pwd.getpwnam(self.run_as).pw_uid
            os.chown(self.dir, uid, -1)
        self._cmd(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                  "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(5):  # the free port may be taken between probing and binding
            self.port = _free_port()
            conf = (f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nmax_connections = 300\n")
            (self.data / "postgresql.auto.conf").write_text(conf)
            started = self._cmd(str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                                "-l", str(self.log), check=False)
            if started.returncode == 0:
                return
        raise RuntimeError(f"PostgreSQL did not start: {started.stdout}{started.stderr}\n"
                           f"{self.log.read_text() if self.log.exists() else ''}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "db") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._cmd(str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate", "-w", "-D", str(self.data),
                      check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL 15 cluster per test session."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (set TUNELOOP_PG_BIN)")
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
