"""Which serving backend holds which adapter; loads adapters on demand from the object store.

Adapters are keyed by the job that trained them: each job publishes exactly one version, so
the key never changes meaning and a reload can never serve stale weights under an old key.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from tuneloop_worker.serving.backend import ServingBackend

from ..objects import ObjectStore

BackendFactory = Callable[[str], ServingBackend]


class ServingManager:
    """Backends by base model; at most `max_adapters` adapters loaded on each, least recently
    used first out (an evicted adapter loads again on its next request)."""

    def __init__(self, objects: ObjectStore, cache_dir: Path, factory: BackendFactory,
                 max_adapters: int = 32):
        self.objects = objects
        self.cache_dir = cache_dir
        self.factory = factory
        self.max_adapters = max_adapters
        self._backends: dict[str, ServingBackend] = {}
        self._recent: dict[str, OrderedDict[str, None]] = {}  # base -> keys, oldest use first
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
        recent = self._recent.setdefault(base_model, OrderedDict())
        if backend.has_adapter(key):
            recent[key] = None
            recent.move_to_end(key)
            return backend
        lock = self._loading.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent first requests for one adapter load it once
            if not backend.has_adapter(key):
                await self._make_room(base_model, backend, recent)
                local = self.cache_dir / "adapters" / key
                if not (local / "adapter_config.json").is_file():
                    await asyncio.to_thread(self._download, object_key, local)
                await backend.load_adapter(key, local)
            recent[key] = None
            recent.move_to_end(key)
        return backend

    async def _make_room(self, base_model: str, backend: ServingBackend,
                         recent: OrderedDict[str, None]) -> None:
        while len(recent) >= self.max_adapters:
            oldest, _ = recent.popitem(last=False)
            if backend.has_adapter(oldest):
                await self.unload(base_model, oldest)

    def _download(self, object_key: str, local: Path) -> None:
        partial = local.with_name(local.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        self.objects.get_dir(object_key, partial)
        shutil.rmtree(local, ignore_errors=True)
        partial.rename(local)

    async def unload(self, base_model: str, key: str) -> None:
        self._recent.get(base_model, OrderedDict()).pop(key, None)
        backend = self._backends.get(base_model)
        if backend is not None and backend.has_adapter(key):
            await backend.unload_adapter(key)
        await asyncio.to_thread(shutil.rmtree, self.cache_dir / "adapters" / key, True)

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
        self._backends.clear()
