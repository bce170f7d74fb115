"""The control plane's ServingManager keeps at most N adapters loaded, least recently used out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from serving_helpers import BASE


def test_least_recently_used_adapter_is_unloaded_to_make_room(adapter_dirs, model_cache, tmp_path):
    from tuneloop_server.objects import LocalObjectStore
    from tuneloop_server.services.serving import ServingManager
    from tuneloop_worker.serving import LocalPeftEngine

    objects = LocalObjectStore(tmp_path / "objects")
    for name, path in adapter_dirs.items():
        objects.put_dir(f"adapters/{name}", path)
    manager = ServingManager(objects, tmp_path / "cache", lambda base: LocalPeftEngine(base, model_cache),
                             max_adapters=2)

    async def scenario() -> list[set[str]]:
        seen = []

        async def use(key: str) -> None:
            backend = await manager.ensure_loaded(BASE, key, f"adapters/{key}")
            seen.append({k for k in adapter_dirs if backend.has_adapter(k)})

        try:
            await use("A")
            await use("B")
            await use("A")    # A is now the most recently used
            await use("big")  # full: B goes
            await use("B")    # full again: A goes
            assert not (tmp_path / "cache" / "adapters" / "A").exists()  # its files went too
        finally:
            await manager.close()
        return seen

    assert asyncio.run(scenario()) == [{"A"}, {"A", "B"}, {"A", "B"}, {"A", "big"}, {"big", "B"}]
