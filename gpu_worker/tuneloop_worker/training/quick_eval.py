"""Ask a model questions the way inference will (chat template, greedy) and score the answers.

Used by the sample-dataset test and handy for a smoke check after training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


@torch.no_grad()
def answer(
    model: Any, tokenizer: Any, questions: Sequence[str], *, max_new_tokens: int = 48
) -> list[str]:
    """Greedy answers, one per question, all in one left-padded batch."""
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
        )
        for q in questions
    ]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right end of every row
    try:
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    enc = enc.to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    out = model.generate(
        **enc, do_sample=False, max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model.train(was_training)
    width = enc["input_ids"].shape[1]
    return [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out]


def score(answers: Sequence[str], expected: Sequence[str]) -> list[bool]:
    """An answer is right when it contains the expected keyword (case-insensitive)."""
    return [e.lower() in a.lower() for a, e in zip(answers, expected)]
