"""Which serving backend holds which adapter; loads adapters on demand from the object store.

Adapters are keyed by the job that trained them: each job publishes exactly one version, so
the key never changes meaning and a reload can never serve stale weights under an old key.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Callable

from tuneloop_worker.serving.backend import ServingBackend

from ..objects import ObjectStore

BackendFactory = Callable[[str], ServingBackend]


class ServingManager:
    def __init__(self, objects: ObjectStore, cache_dir: Path, factory: BackendFactory):
        self.objects = objects
        self.cache_dir = cache_dir
        self.factory = factory
        self._backends: dict[str, ServingBackend] = {}
        self._lock = asyncio.Lock()
        self._loading: dict[str, asyncio.Lock] = {}

    async def backend(self, base_model: str) -> ServingBackend:
        async with self._lock:
            backend = self._backends.get(base_model)
            if backend is None:
                backend = self.factory(base_model)
                await backend.start()
                self._backends[base_model] = backend
            return backend

    def started(self, base_model: str) -> ServingBackend | None:
        """The backend of `base_model` if one has been started (for operators and tests)."""
        return self._backends.get(base_model)

    async def ensure_loaded(self, base_model: str, key: str, object_key: str) -> ServingBackend:
        backend = await self.backend(base_model)
        if backend.has_adapter(key):
            return backend
        lock = self._loading.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent first requests for one adapter load it once
            if not backend.has_adapter(key):
                local = self.cache_dir / "adapters" / key
                if not (local / "adapter_config.json").is_file():
                    await asyncio.to_thread(self._download, object_key, local)
                await backend.load_adapter(key, local)
        return backend

    def _download(self, object_key: str, local: Path) -> None:
        partial = local.with_name(local.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.objects.get_dir(object_key, partial)
        shutil.rmtree(local, ignore_errors=True)
        partial.rename(local)

    async def unload(self, base_model: str, key: str) -> None:
        backend = self._backends.get(base_model)
        if backend is not None and backend.has_adapter(key):
            await backend.unload_adapter(key)
        await asyncio.to_thread(shutil.rmtree, self.cache_dir / "adapters" / key, True)

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
        self._backends.clear()
