"""Adapter lifecycle on the real engine: unload, reload, memory, and bad adapter folders."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from serving_helpers import PROMPT

from tuneloop_worker.serving import AdapterLoadError, GenerationRequest, UnknownAdapterError

pytestmark = pytest.mark.timeout(300)


def run(coro):
    return asyncio.run(coro)


def answer(engine, key: str | None, max_tokens: int = 8) -> str:
    # A few tokens tell the test adapters apart; longer answers would only slow the suite.
    return run(engine.generate(GenerationRequest(PROMPT, max_tokens=max_tokens, adapter=key))).text


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_unknown_and_unloaded_keys_raise(engine, adapter_dirs):
    with pytest.raises(UnknownAdapterError, match="never-loaded"):
        answer(engine, "never-loaded")
    run(engine.load_adapter("temp@v1", adapter_dirs["A"]))
    assert engine.has_adapter("temp@v1")
    run(engine.unload_adapter("temp@v1"))
    assert not engine.has_adapter("temp@v1")
    with pytest.raises(UnknownAdapterError):
        answer(engine, "temp@v1")
    with pytest.raises(UnknownAdapterError):
        run(engine.unload_adapter("temp@v1"))


def test_load_unload_cycles_free_memory(engine, adapter_dirs):
    big = adapter_dirs["big"]
    base_params = engine.stats.parameters
    run(engine.load_adapter("big", big))  # warm-up: allocator pools, lazy imports
    adapter_params = engine.stats.parameters - base_params
    assert adapter_params > 2_500_000
    run(engine.unload_adapter("big"))
    start_rss = rss_bytes()
    for cycle in range(20):
        if cycle == 10:  # second half: another adapter stays, so PEFT's delete_adapter path runs
            run(engine.load_adapter("resident", adapter_dirs["A"]))
            with_resident = engine.stats.parameters
        run(engine.load_adapter("big", big))
        run(engine.unload_adapter("big"))
        expected = base_params if cycle < 10 else with_resident
        assert engine.stats.parameters == expected, f"cycle {cycle} left parameters behind"
    run(engine.unload_adapter("resident"))
    assert engine.stats.parameters == base_params and engine.stats.adapters == 0
    growth = rss_bytes() - start_rss
    # A leak would hold 20 copies (~240 MB); allow allocator slack of about two adapters.
    assert growth < 2 * adapter_params * 4 + 40_000_000, f"RSS grew by {growth / 1e6:.0f} MB"
    assert answer(engine, None)  # the unwrapped base still serves


def test_reload_same_key_serves_new_weights(engine, adapter_dirs):
    run(engine.load_adapter("ref-b", adapter_dirs["B"]))
    text_b = answer(engine, "ref-b")
    run(engine.load_adapter("live", adapter_dirs["A"]))
    run(engine.load_adapter("live", adapter_dirs["A"]))  # idempotent
    text_a = answer(engine, "live")
    assert text_a != text_b
    count = engine.stats.adapters
    run(engine.load_adapter("live", adapter_dirs["B"]))
    assert answer(engine, "live") == text_b
    assert engine.stats.adapters == count, "a reload replaces, it does not add"
    run(engine.unload_adapter("live"))
    run(engine.unload_adapter("ref-b"))


def _truncate_weights(d: Path) -> None:
    weights = d / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _edit_config(**changes):
    def edit(d: Path) -> None:
        config = json.loads((d / "adapter_config.json").read_text())
        config.update(changes)
        (d / "adapter_config.json").write_text(json.dumps(config))
    return edit


def _drop_tensors(d: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(d / "adapter_model.safetensors")
    kept = dict(list(sorted(tensors.items()))[2:])
    save_file(kept, d / "adapter_model.safetensors")


BAD_ADAPTERS = {
    "truncated weights": (_truncate_weights, "corrupt or truncated"),
    "no config": (lambda d: (d / "adapter_config.json").unlink(), "no adapter_config.json"),
    "no weights": (lambda d: (d / "adapter_model.safetensors").unlink(), "no adapter weights"),
    "config not json": (lambda d: (d / "adapter_config.json").write_text("{oops"), "not valid JSON"),
    "wrong rank": (_edit_config(r=16), "does not fit this base model"),
    "wrong modules": (_edit_config(target_modules=["no_such_proj"]), "does not fit this base model"),
    "untargeted tensors": (_edit_config(target_modules=["q_proj"]), "does not target"),
    "missing tensors": (_drop_tensors, "lack 2 LoRA tensors"),
    "not lora": (_edit_config(peft_type="PREFIX_TUNING"), "only LORA"),
}


@pytest.fixture(scope="module")
def good_text(engine, adapter_dirs) -> str:
    run(engine.load_adapter("good", adapter_dirs["A"]))
    return answer(engine, "good", max_tokens=4)


@pytest.mark.parametrize("case", sorted(BAD_ADAPTERS))
def test_bad_adapter_is_rejected_and_others_keep_serving(engine, adapter_dirs, tmp_path, case, good_text):
    params = engine.stats.parameters
    corrupt, message = BAD_ADAPTERS[case]
    bad = tmp_path / "bad"
    shutil.copytree(adapter_dirs["B"], bad)
    corrupt(bad)

    with pytest.raises(AdapterLoadError, match=message):
        run(engine.load_adapter("bad", bad))
    assert not engine.has_adapter("bad")
    # A failed reload of a served key keeps the old weights under it.
    with pytest.raises(AdapterLoadError):
        run(engine.load_adapter("good", bad))
    assert engine.stats.parameters == params, "a failed load must not leave layers behind"
    assert answer(engine, "good", max_tokens=4) == good_text


def test_missing_directory_is_rejected(engine, tmp_path):
    with pytest.raises(AdapterLoadError, match="does not exist"):
        run(engine.load_adapter("ghost", tmp_path / "nowhere"))
