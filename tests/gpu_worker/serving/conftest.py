"""Fixtures for the in-process serving engine: real base model, real PEFT adapters.

One engine serves the whole module (starting it costs a model load). It is driven from
several `asyncio.run` loops: the engine binds each request to the loop that sent it, not
to the loop that started it, so this is safe and mirrors a server restarting its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_helpers import BASE, make_adapter


@pytest.fixture(scope="session")
def adapter_dirs(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> dict[str, Path]:
    from tuneloop_worker import base_models

    base, _ = base_models.load(BASE, model_cache)
    root = tmp_path_factory.mktemp("adapters")
    return {
        "A": make_adapter(base, root / "A", seed=1),
        "B": make_adapter(base, root / "B", seed=2),
        # ~3M params (~12 MB): a leak over 20 load/unload cycles (~240 MB) would show in RSS,
        # while each load stays cheap (PEFT's cost grows with wrapped layers and tensor bytes).
        "big": make_adapter(base, root / "big", seed=3, r=16, targets=("gate_proj", "up_proj", "down_proj")),
    }


@pytest.fixture(scope="module")
def engine(model_cache: Path) -> Iterator:
    from tuneloop_worker.serving import LocalPeftEngine

    # A generous batching window: the batching test must not depend on thread timing.
    eng = LocalPeftEngine(BASE, model_cache, max_batch_size=8, batch_window_s=0.05)
    asyncio.run(eng.start())
    yield eng
    asyncio.run(eng.close())
