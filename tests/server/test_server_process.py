"""`tuneloop server` as a real process: serves, shuts down gracefully on SIGTERM, keeps state."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import tuneloop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuneloop.cli", "server", "--address", f"127.0.0.1:{port}",
         "--data-dir", str(data_dir), "--workers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_ready(client: tuneloop.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.datasets.list()
            return
        except tuneloop.UnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def test_sigterm_shuts_down_cleanly_and_state_survives_a_restart(tmp_path, monkeypatch):
    port = free_port()
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    state = tmp_path / "state"
    # As on a one-machine install: the server writes its key at first start and the SDK
    # finds it there without being told.
    monkeypatch.delenv("TUNELOOP_API_KEY", raising=False)
    monkeypatch.setenv("TUNELOOP_DATA_DIR", str(state))

    server = start_server(state, port)
    wait_for_file(state / "api.key")
    key = (state / "api.key").read_text().strip()
    assert (state / "api.key").stat().st_mode & 0o077 == 0, "the key file must be private"
    with tuneloop.Client(f"127.0.0.1:{port}", max_retries=0) as client:
        wait_ready(client)
        dataset = client.datasets.upload(data, name="kept")
    server.send_signal(signal.SIGTERM)
    output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "shutting down" in output

    server = start_server(state, port)
    try:
        with tuneloop.Client(f"127.0.0.1:{port}", max_retries=0) as client:
            wait_ready(client)
            assert client.datasets.get(dataset.id).name == "kept"
        assert (state / "api.key").read_text().strip() == key, "a restart keeps the same key"
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
