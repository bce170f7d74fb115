"""Helpers for the serving tests: test adapters and the plain-PEFT reference output."""

from __future__ import annotations

from pathlib import Path

BASE = "smollm2-135m"
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


def make_adapter(base, out_dir: Path, seed: int, *, r: int = 8, targets=("q_proj", "v_proj")) -> Path:
    """Save a random (non-identity) LoRA adapter for `base` and leave `base` unwrapped again."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    # lora_alpha well above r so random weights really change greedy output on a 16-token answer.
    config = LoraConfig(r=r, lora_alpha=4 * r, target_modules=list(targets), init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(out_dir)
    peft_model.unload()  # strips the LoRA layers so the next adapter starts from the plain base
    return out_dir


def reference_generate(model_cache: Path, adapter_dir: Path | None, messages, max_new_tokens: int) -> str:
    """Plain transformers/PEFT greedy generation on a fresh base: what the engine must match."""
    import torch
    from peft import PeftModel
    from tuneloop_worker import base_models

    model, tokenizer = base_models.load(BASE, model_cache)
    if adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
