"""One machine, zero config: the control plane plus in-process training workers.

`run_forever` is what `tuneloop server` runs. `BackgroundServer` runs the same stack on a
private event-loop thread, for the demo and for tests that want a real server on a free port.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from tuneloop_worker.control_plane import ControlPlaneClient
from tuneloop_worker.worker_loop import Worker, start_in_thread

from .app import ControlPlane, serve
from .config import ServerSettings
from .objects import LocalObjectStore

log = logging.getLogger("tuneloop.server")


@dataclass
class InProcessWorkers:
    workers: list[Worker] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, plane: ControlPlane) -> "InProcessWorkers":
        group = cls()
        settings = plane.settings
        for i in range(settings.embedded_workers):
            client = ControlPlaneClient(plane.internal_address, plane.local_keys.worker_token)
            worker = Worker(client, LocalObjectStore(settings.objects_dir),
                            settings.cache_dir, settings.data_dir / "scratch")
            group.workers.append(worker)
            group.threads.append(start_in_thread(worker, f"embedded-{i}"))
        return group

    def stop(self, timeout: float = 30.0) -> None:
        for worker in self.workers:
            worker.shutdown.set()
        for thread in self.threads:
            thread.join(timeout)
        for worker in self.workers:
            worker.client.close()


def run_forever(settings: ServerSettings) -> None:
    asyncio.run(serve(settings, on_started=InProcessWorkers.start))


class BackgroundServer:
    """The embedded stack on its own thread:

        with BackgroundServer(settings) as server, server.client() as client: ...
    """

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.plane: ControlPlane | None = None
        self.workers: InProcessWorkers | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="tuneloop-server")

    def start(self) -> str:
        self._thread.start()
        self.plane = ControlPlane(self.settings)
        asyncio.run_coroutine_threadsafe(self.plane.start(), self._loop).result(timeout=120)
        self.workers = InProcessWorkers.start(self.plane)
        return self.plane.address

    @property
    def api_key(self) -> str:
        """The local tenant's user key (also in <data dir>/api.key)."""
        assert self.plane is not None and self.plane.local_keys.api_key is not None
        return self.plane.local_keys.api_key

    @property
    def admin_key(self) -> str:
        assert self.plane is not None and self.plane.local_keys.admin_key is not None
        return self.plane.local_keys.admin_key

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        if self.plane is not None:
            asyncio.run_coroutine_threadsafe(self.plane.stop(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def address(self) -> str:
        assert self.plane is not None, "start() the server first"
        return self.plane.address

    def client(self, **kwargs):
        """A `tuneloop.Client` for this server, authenticated with the local tenant's key."""
        import tuneloop

        return tuneloop.Client(self.address, api_key=self.api_key, **kwargs)

    def __enter__(self) -> "BackgroundServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
