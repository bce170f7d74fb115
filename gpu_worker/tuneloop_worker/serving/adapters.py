"""The LoRA adapters held on top of one base model, keyed by the control plane's names.

Only the engine's scheduler thread calls into this class: loading and deleting adapters
rewires the model's modules, which must never happen while a forward pass runs.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path

from .backend import AdapterLoadError, UnknownAdapterError

CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")


class AdapterSet:
    """Maps keys (which may hold '@', '/', '.') to internal PEFT adapter names."""

    def __init__(self, base_model, *, max_adapters: int) -> None:
        self._base = base_model
        self._peft = None  # PeftModel wrapping _base while at least one adapter is loaded
        self._names: dict[str, str] = {}
        self._counter = itertools.count()
        self._max = max_adapters

    @property
    def model(self):
        """The module to call generate() on."""
        return self._peft if self._peft is not None else self._base

    @property
    def mixed(self) -> bool:
        """True when generate() accepts PEFT's per-row `adapter_names`."""
        return self._peft is not None

    def __contains__(self, key: str) -> bool:
        return key in self._names

    def __len__(self) -> int:
        return len(self._names)

    def internal_name(self, key: str | None) -> str:
        if key is None:
            return "__base__"  # PEFT's name for "no adapter" in a mixed batch
        try:
            return self._names[key]
        except KeyError:
            raise UnknownAdapterError(f"no adapter is loaded under {key!r}") from None

    def load(self, key: str, path: Path) -> None:
        """Load `path` under `key`; a failed (re)load leaves the previous state serving."""
        if not isinstance(key, str) or not key:
            raise AdapterLoadError("adapter key must be a non-empty string")
        if key not in self._names and len(self._names) >= self._max:
            raise AdapterLoadError(
                f"cannot load {key!r}: {self._max} adapters are loaded (max_adapters); unload one first"
            )
        path = Path(path)
        config = read_adapter_config(path)
        check_adapter_weights(path)
        # A fresh internal name even on reload: the old weights keep serving until the new
        # ones are in, and a failure never leaves a half-replaced adapter under the key.
        name = f"tl_adapter_{next(self._counter)}"
        try:
            self._inject(name, path)
        except Exception as exc:
            self._discard(name)
            if isinstance(exc, AdapterLoadError):
                raise
            raise AdapterLoadError(_explain(path, config, exc)) from exc
        old = self._names.get(key)
        self._names[key] = name
        if old is not None:
            self._discard(old)

    def unload(self, key: str) -> None:
        name = self.internal_name(key)
        del self._names[key]
        self._discard(name)

    def _inject(self, name: str, path: Path) -> None:
        from peft import LoraConfig, PeftModel

        if self._peft is None:
            # Wrap first, load second (what PeftModel.from_pretrained does in one call), so that
            # self._peft is set and _discard can undo the injection if the weights then fail.
            config = LoraConfig.from_pretrained(str(path))
            config.inference_mode = True
            self._peft = PeftModel(self._base, config, adapter_name=name)
        device = next(self._base.parameters()).device
        result = self._peft.load_adapter(str(path), adapter_name=name, torch_device=str(device))
        # PEFT loads non-strictly: tensors missing from the file would stay randomly initialised,
        # and tensors for modules the config does not target would be silently dropped.
        if result.missing_keys:
            raise AdapterLoadError(
                f"adapter weights at {path} lack {len(result.missing_keys)} LoRA tensors "
                f"(first: {result.missing_keys[0]}); the file does not match its {CONFIG_FILE}"
            )
        if result.unexpected_keys:
            raise AdapterLoadError(
                f"adapter weights at {path} hold {len(result.unexpected_keys)} tensors for modules "
                f"its {CONFIG_FILE} does not target or this base model lacks "
                f"(first: {result.unexpected_keys[0]})"
            )
        self._peft.eval()  # PEFT refuses adapter_names in training mode

    def _discard(self, name: str) -> None:
        """Delete an internal adapter; unwrap the base model once none is left."""
        if self._peft is None:
            return
        if name in self._peft.peft_config:
            with warnings.catch_warnings():
                # PEFT warns when the deleted adapter was the active one; we never rely on the
                # active adapter (every batch names its adapters per row), so it is noise.
                warnings.simplefilter("ignore", UserWarning)
                self._peft.delete_adapter(name)
        if not self._peft.peft_config:
            # unload() swaps the emptied LoRA wrappers back for the plain layers, so the base
            # model is exactly as loaded and the next first adapter wraps it afresh.
            self._base = self._peft.unload()
            self._peft = None
        # No gc.collect(): the LoRA tensors are freed by refcounting (10 load/unload cycles of an
        # 80 MB adapter leave RSS flat), and a full collection costs ~0.3 s per unload.


def read_adapter_config(path: Path) -> dict:
    """The adapter's adapter_config.json, checked to be a LoRA a serving backend can use."""
    if not path.is_dir():
        raise AdapterLoadError(f"adapter directory {path} does not exist")
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise AdapterLoadError(f"{path} has no {CONFIG_FILE}: not a PEFT adapter directory")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise AdapterLoadError(f"{config_file} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise AdapterLoadError(f"{config_file} must hold a JSON object")
    if config.get("peft_type") != "LORA":
        raise AdapterLoadError(f"{path} holds a {config.get('peft_type')!r} adapter; only LORA is served")
    if config.get("use_dora"):
        raise AdapterLoadError(f"{path} is a DoRA adapter; PEFT cannot mix DoRA adapters in a batch")
    return config


def check_adapter_weights(path: Path) -> None:
    """Fail early, before touching the model, on a missing or truncated weights file."""
    from safetensors import SafetensorError, safe_open

    safetensors_file = path / WEIGHT_FILES[0]
    if safetensors_file.is_file():
        try:
            with safe_open(str(safetensors_file), framework="pt"):
                return  # the header parsed and its offsets cover the whole file
        except (SafetensorError, OSError) as exc:
            raise AdapterLoadError(f"{safetensors_file} is corrupt or truncated: {exc}") from exc
    if not (path / WEIGHT_FILES[1]).is_file():
        raise AdapterLoadError(f"{path} has no adapter weights ({' or '.join(WEIGHT_FILES)})")


def _explain(path: Path, config: dict, exc: Exception) -> str:
    # torch lists every mismatched tensor on its own line; one line of it says enough.
    text = " ".join(str(exc).split())
    if len(text) > 400:
        text = text[:400] + " ..."
    if "size mismatch" in text or "not found in the base model" in text:
        return (
            f"adapter at {path} does not fit this base model (it was trained for "
            f"{config.get('base_model_name_or_path')!r}): {text}"
        )
    return f"cannot load adapter at {path}: {type(exc).__name__}: {text}"
