"""A throwaway PostgreSQL cluster for tests and benchmarks: a temp dir, a free loopback port.

    with throwaway_cluster() as url:   # postgresql+psycopg://tuneloop@127.0.0.1:PORT/tuneloop_...
        ...

pytest gets it through the `postgres_cluster`, `postgres_url` and `fresh_postgres_url`
fixtures in conftest.py. Needs the PostgreSQL server binaries (initdb, pg_ctl) in PG_BIN.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("TUNELOOP_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "tuneloop"  # the cluster's superuser; trust auth on loopback only


# Runs beside the test session and stops the cluster once the session's end of its stdin
# closes: at teardown, and also when pytest is killed (a timeout, Ctrl-C, SIGKILL) and never
# reaches teardown, so no postgres outlives its session.
_GUARDIAN = """
import os, shutil, subprocess, sys
sys.stdin.read()
pg_ctl, data, root, *prefix = sys.argv[1:]
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run([*prefix, pg_ctl, "stop", "-m", "immediate", "-w", "-D", data], cwd=root,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
shutil.rmtree(root, ignore_errors=True)
"""


class PostgresCluster:
    """A PostgreSQL cluster in a temp dir, owned by an unprivileged OS user (initdb refuses root),
    listening on a free loopback port only. Throwaway: trust auth, stopped with -m immediate."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is private to root, and the server runs as another user.
        self.dir = Path(tempfile.mkdtemp(prefix="tuneloop-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self._prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        self._guardian = subprocess.Popen(
            [sys.executable, "-c", _GUARDIAN, str(PG_BIN / "pg_ctl"), str(self.data), str(self.dir),
             *self._prefix],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # out of pytest's process group: signals to it miss this

    def _cmd(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self._prefix, *args], cwd=self.dir, capture_output=True, text=True,
                              timeout=120)

    def start(self) -> None:
        if self.run_as:
            os.chown(self.dir, pwd.getpwnam(self.run_as).pw_uid, -1)
        init = self._cmd(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                         "-E", "UTF8", "--locale=C", "--no-sync")
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stdout}{init.stderr}")
        for _ in range(5):  # the free port may be taken between probing and binding
            self.port = _free_port()
            conf = (f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nmax_connections = 300\n")
            (self.data / "postgresql.auto.conf").write_text(conf)
            started = self._cmd(str(PG_BIN / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                                "-l", str(self.log))
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
        """Stop the server and delete the cluster (the guardian does both)."""
        self._guardian.stdin.close()
        self._guardian.wait(90)


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


def binaries_missing() -> str | None:
    """Why no cluster can be started here, or None."""
    missing = [name for name in ("initdb", "pg_ctl") if not (PG_BIN / name).is_file()]
    if missing:
        return f"PostgreSQL binaries not found in {PG_BIN}: {', '.join(missing)} (set TUNELOOP_PG_BIN)"
    return None


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster, yield the URL of a new database in it, then stop and delete it all."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster.create_database("tuneloop")
    finally:
        cluster.stop()
