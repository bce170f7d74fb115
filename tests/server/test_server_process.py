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


def test_sigterm_shuts_down_cleanly_and_state_survives_a_restart(tmp_path):
    port = free_port()
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")

    server = start_server(tmp_path / "state", port)
    with tuneloop.Client(f"127.0.0.1:{port}", max_retries=0) as client:
        wait_ready(client)
        dataset = client.datasets.upload(data, name="kept")
    server.send_signal(signal.SIGTERM)
    output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "shutting down" in output

    server = start_server(tmp_path / "state", port)
    try:
        with tuneloop.Client(f"127.0.0.1:{port}", max_retries=0) as client:
            wait_ready(client)
            assert client.datasets.get(dataset.id).name == "kept"
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
