"""Base model + LoRA adapter, ready to train: float32 on CPU, 4-bit NF4 base for QLoRA on CUDA."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from .. import base_models
from .config import TrainingConfig
from .events import TrainingError

QLORA_NEEDS_CUDA = (
    'qlora needs a CUDA GPU with bitsandbytes; this worker has none: use method="lora"'
)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on GPUs that have it; plain float32 elsewhere (CPU bf16 is slow and lossy)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_for_training(
    base_model: str, cache_dir: Path, config: TrainingConfig, device: torch.device
):
    """(peft model in train mode, tokenizer). TrainingError when the base cannot be used."""
    from peft import LoraConfig, get_peft_model

    try:
        if config.method == "qlora":
            model, tokenizer = _load_4bit(base_model, cache_dir, device)
        else:
            model, tokenizer = base_models.load(
                base_model, cache_dir, dtype=torch.float32, device=str(device)
            )
    except base_models.BaseModelError as exc:
        raise TrainingError(str(exc)) from None
    model.config.use_cache = False  # the KV cache only costs memory during training
    lora = LoraConfig(
        task_type="CAUSAL_LM",
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.peft_target_modules(),
        bias="none",
    )
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:  # e.g. a target module name this architecture does not have
        raise TrainingError(f"cannot attach LoRA to {base_model!r}: {exc}") from None
    model.train()
    return model, tokenizer


def _load_4bit(base_model: str, cache_dir: Path, device: torch.device):
    if device.type != "cuda":
        raise TrainingError(QLORA_NEEDS_CUDA)
    try:
        import bitsandbytes  # noqa: F401  (imported only to fail early with a clear message)
    except ImportError:
        raise TrainingError(
            "qlora needs the bitsandbytes package on this worker: pip install bitsandbytes"
        ) from None
    from peft import prepare_model_for_kbit_training
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    path = base_models.materialize(base_model, cache_dir)
    model_config = AutoConfig.from_pretrained(path)
    # A base converted from GGUF keeps a `gguf` quantization_config although its weights are
    # plain safetensors; transformers refuses to combine it with a BitsAndBytesConfig.
    if getattr(model_config, "quantization_config", None) is not None:
        del model_config.quantization_config
    bnb = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model = AutoModelForCausalLM.from_pretrained(
        path, config=model_config, quantization_config=bnb, dtype=torch.bfloat16,
        device_map={"": device.index or 0},
    )
    # Casts norms to float32 and enables gradient checkpointing: the memory QLoRA exists to save.
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
