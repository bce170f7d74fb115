"""Commands that run tuneloop itself rather than talk to it: `server` and `worker`.

They import the server and worker packages lazily, so the SDK alone (pip install tuneloop)
still has a working CLI for everything else.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import fail

_MISSING = "this command needs the server and worker extras: pip install 'tuneloop[server,worker]'"


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def server(
    address: Annotated[Optional[str], typer.Option(help="host:port to listen on.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Where state lives (~/.tuneloop).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="In-process training workers.")] = None,
    serving: Annotated[Optional[str], typer.Option(
        help="local (in-process PEFT engine) or vllm (a supervised vLLM server).")] = None,
    vllm_url: Annotated[Optional[str], typer.Option(
        help="Attach to a running vLLM instead of starting one (implies --serving vllm).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run the all-in-one service on embedded defaults (SQLite, local files, in-process
    worker and serving engine) until Ctrl-C or SIGTERM."""
    if vllm_url and serving in (None, "vllm"):
        serving = "vllm"
    try:
        from tuneloop_server.config import ServerSettings
        from tuneloop_server.embedded import run_forever
    except ImportError:
        raise fail(_MISSING) from None
    _logging(verbose)
    overrides = {"address": address, "data_dir": data_dir, "embedded_workers": workers,
                 "serving": serving, "vllm_url": vllm_url}
    run_forever(ServerSettings(**{k: v for k, v in overrides.items() if v is not None}))


def worker(
    address: Annotated[Optional[str], typer.Option(help="Control plane host:port.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option(help="Object store and cache folder.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Name shown in the control plane.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a training worker that leases jobs from a control plane over gRPC."""
    try:
        from tuneloop_server.objects import LocalObjectStore
        from tuneloop_worker.control_plane import ControlPlaneClient
        from tuneloop_worker.settings import WorkerSettings
        from tuneloop_worker.worker_loop import Worker
    except ImportError:
        raise fail(_MISSING) from None
    _logging(verbose)
    overrides = {"address": address, "data_dir": data_dir, "worker_name": name}
    settings = WorkerSettings(**{k: v for k, v in overrides.items() if v is not None})
    token = settings.resolved_token
    if not token:
        raise fail("no worker token: set TUNELOOP_WORKER_TOKEN (create one with `tuneloop admin "
                   "keys create --kind worker`), or run next to the server with the same --data-dir")
    client = ControlPlaneClient(settings.address, token, settings.tls_config)
    runner = Worker(client, LocalObjectStore(settings.objects_dir), settings.cache_dir,
                    settings.scratch_dir)
    # SIGTERM/SIGINT stop training between two steps; the control plane requeues the job
    # when its lease runs out, and another worker takes it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.shutdown.set())
    runner.register(settings.worker_name)
    try:
        runner.run_forever(settings.lease_wait_seconds)
    finally:
        client.close()


def register(app: typer.Typer) -> None:
    app.command()(server)
    app.command()(worker)
    from .demo import demo

    app.command()(demo)
