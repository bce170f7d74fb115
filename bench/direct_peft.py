"""The baseline: a LoRA fine-tune in one script with only torch, transformers and peft.

What a user would write without tuneloop, doing the same optimizer steps as the service's recipe
on the same data: chat template, loss on assistant tokens only, length-grouped batches, AdamW,
warmup + cosine, float32. `cfg` is anything with TrainingConfig's field names.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

IGNORE = -100  # label value cross_entropy skips


def read_conversations(path: Path) -> list[list[dict[str, str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["messages"] if "messages" in r else
            [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]
            for r in rows]


def tokenize(tokenizer, messages: list[dict[str, str]], max_len: int) -> tuple[list[int], list[int]]:
    """Chat-template ids, labels on assistant turns (content + end-of-turn marker) only."""
    def render(msgs, prompt=False):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)

    # A turn's characters: from the end of the conversation rendered up to its prompt to the end
    # of the conversation rendered through it (trailing newline left out).
    spans = [(len(render(messages[:i], True)) if i else 0, len(render(messages[: i + 1]).rstrip()))
             for i, m in enumerate(messages) if m["role"] == "assistant"]
    enc = tokenizer(render(messages), add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [t if any(a < e and b > s for s, e in spans) else IGNORE
              for t, (a, b) in zip(ids, enc["offset_mapping"])]
    return ids[:max_len], labels[:max_len]


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-grouped batches (shuffle, sort inside windows of 16 batches, shuffle the batches).

    The same grouping as the service's recipe, so both sides pad the same tokens and a time
    difference is overhead, not a different amount of padding.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window, batches = batch_size * 16, []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def micro_batch_loss(model, rows: list[tuple[list[int], list[int]]], pad_id: int) -> torch.Tensor:
    """Summed cross-entropy; logits only where a label follows, as the service's loop does
    (a full-vocabulary projection at every position would make the baseline the slower side)."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (row_ids, row_labels) in enumerate(rows):
        ids[r, : len(row_ids)], labels[r, : len(row_ids)] = torch.tensor(row_ids), torch.tensor(row_labels)
        mask[r, : len(row_ids)] = 1
    targets = labels[:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(1)
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets[:, keep].reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


def warmup_cosine(total: int, warmup_ratio: float):
    """The service's schedule, (s+1)/(w+1) warmup then cosine to zero: the lr values change no
    work, but equal values make the two runs' losses comparable (transformers' helper starts at 0)."""
    warmup = math.ceil(warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


def load_lora_model(base_dir: Path, cfg):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(
        task_type="CAUSAL_LM", r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.peft_target_modules(), bias="none"))
    model.train()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return model, tokenizer, pad_id


def run_baseline(base_dir: Path, dataset: Path, cfg, out_dir: Path) -> dict:
    """Model load -> adapter saved, timed; marks are seconds from the start."""
    start, cpu_start, marks, losses = time.perf_counter(), time.process_time(), {}, []
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # before LoRA init and dropout, as the service seeds
    model, tokenizer, pad_id = load_lora_model(base_dir, cfg)
    examples = [tokenize(tokenizer, conv, cfg.max_seq_length) for conv in read_conversations(dataset)]
    examples = [ex for ex in examples if any(label != IGNORE for label in ex[1])]
    accum, lengths = cfg.gradient_accumulation_steps, [len(ids) for ids, _ in examples]
    total = math.ceil(math.ceil(len(examples) / cfg.batch_size) / accum) * cfg.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, cfg.warmup_ratio))
    for epoch in range(cfg.epochs):
        batches = epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        for group in (batches[i : i + accum] for i in range(0, len(batches), accum)):
            rows = [[examples[i] for i in idx] for idx in group]
            # Normalise by the step's supervised tokens, so accumulation does not change the loss.
            n_targets = max(1, sum(t != IGNORE for mb in rows for _, labels in mb for t in labels[1:]))
            loss = 0.0
            for mb in rows:
                part = micro_batch_loss(model, mb, pad_id) / n_targets
                part.backward()
                loss += part.item()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf"))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            marks.setdefault("first_step", time.perf_counter() - start)
    marks["last_step"] = time.perf_counter() - start
    model.save_pretrained(out_dir)
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
            "steps": len(losses), "last_loss": losses[-1], "marks": marks}
