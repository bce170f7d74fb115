"""Score model versions on an eval set: exact match, token F1 and loss on the expected answers.

Each example is a chat whose last assistant turn is the expected answer. The base model, the
previous version (when given) and the new version answer the prompt greedily; the scores
decide whether the new version is promoted (see the control plane's job_evaluation).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from pathlib import Path

import torch

from .. import base_models
from ..data_format import read_conversations

MAX_NEW_TOKENS = 256


def normalize(text: str) -> str:
    """Lowercase, no punctuation, no articles, single spaces (the usual QA normalization)."""
    text = text.lower()
    text = "".join(c for c in text if c not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, expected: str) -> float:
    pred, gold = normalize(prediction).split(), normalize(expected).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if not pred or not gold:
        return float(pred == gold)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def evaluate_versions(base_model: str, cache_dir: Path, eval_file: Path,
                      adapters: dict[str, Path], prefix: str = "eval") -> dict[str, float]:
    """{"<prefix>.<model>.<metric>": score} for model "base" and each named adapter."""
    from peft import PeftModel

    examples = [(c[:-1], c[-1]["content"]) for c in read_conversations(eval_file)
                if c and c[-1]["role"] == "assistant"]
    if not examples:
        return {}
    model, tokenizer = base_models.load(base_model, cache_dir)
    names = list(adapters)
    peft = PeftModel.from_pretrained(model, str(adapters[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        peft.load_adapter(str(adapters[name]), adapter_name=name)
    peft.eval()
    scores: dict[str, float] = {f"{prefix}.examples": float(len(examples))}
    for name in ["base", *names]:
        if name == "base":
            with peft.disable_adapter():
                results = [_score(peft, tokenizer, p, a) for p, a in examples]
        else:
            peft.set_adapter(name)
            results = [_score(peft, tokenizer, p, a) for p, a in examples]
        for metric, index in (("exact_match", 0), ("token_f1", 1), ("loss", 2)):
            scores[f"{prefix}.{name}.{metric}"] = sum(r[index] for r in results) / len(results)
    return scores


@torch.no_grad()
def _score(model, tokenizer, prompt: list[dict[str, str]], expected: str) -> tuple[float, float, float]:
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)["input_ids"]
    answer_ids = tokenizer(expected, add_special_tokens=False, return_tensors="pt")["input_ids"]
    budget = min(MAX_NEW_TOKENS, answer_ids.shape[1] + 16)
    out = model.generate(input_ids=prompt_ids, attention_mask=torch.ones_like(prompt_ids),
                         max_new_tokens=budget, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, prompt_ids.shape[1]:], skip_special_tokens=True)
    full = torch.cat([prompt_ids, answer_ids], dim=1)
    labels = full.clone()
    labels[:, :prompt_ids.shape[1]] = -100
    loss = float(model(input_ids=full, labels=labels).loss)
    return float(normalize(answer) == normalize(expected)), token_f1(answer, expected), loss
