"""Incremental detokenization with the real tokenizer: no split characters, exact text."""

from __future__ import annotations

import pytest
from serving_helpers import BASE

from tuneloop_worker.serving.decoding import IncrementalDetokenizer


@pytest.fixture(scope="module")
def tokenizer(model_cache):
    from transformers import AutoTokenizer
    from tuneloop_worker import base_models

    return AutoTokenizer.from_pretrained(base_models.materialize(BASE, model_cache))


@pytest.mark.parametrize(
    "text",
    [
        "plain words, and  double spaces",
        "héllo wörld 👋🏽 世界 ½ — ok",
        "emoji run 🎉🎉🎉 end",
        " leading space",
    ],
)
def test_deltas_concatenate_to_full_decode(tokenizer, text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tokenizer)
    deltas = [detok.add(i) for i in ids] + [detok.flush()]
    assert "".join(deltas) == detok.text == tokenizer.decode(ids, skip_special_tokens=True) == text
    assert not any("\ufffd" in d for d in deltas), "a multi-byte character was split"


def test_incomplete_character_is_held_back(tokenizer):
    ids = tokenizer("👋", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1, "the emoji must span several byte-level tokens for this test"
    detok = IncrementalDetokenizer(tokenizer)
    assert [detok.add(i) for i in ids[:-1]] == [""] * (len(ids) - 1)
    assert detok.add(ids[-1]) == "👋"
