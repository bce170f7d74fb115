"""Loss is taken on assistant turns (content + end-of-turn token) and nothing else."""

from __future__ import annotations

import copy

import pytest
from tuneloop_worker.training.tokenization import (
    IGNORE_INDEX,
    collate,
    explain_supervision,
    tokenize_example,
)

MULTI_TURN = [
    {"role": "system", "content": "You answer tersely."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And of Peru?"},
    {"role": "assistant", "content": "Lima, on the Pacific coast.\n"},
]


def supervised(tokenizer, messages, **kw) -> list[str]:
    segments = explain_supervision(tokenizer, messages, **kw)
    return [text for text, carries_loss in segments if carries_loss]


def test_multi_turn_supervises_exactly_each_assistant_turn_and_its_end_token(tokenizer):
    assert tokenizer.eos_token == "<|im_end|>"
    assert supervised(tokenizer, MULTI_TURN) == [
        "Paris.<|im_end|>", "Lima, on the Pacific coast.\n<|im_end|>"
    ]


def test_everything_else_carries_no_loss(tokenizer):
    segments = explain_supervision(tokenizer, MULTI_TURN)
    unsupervised = "".join(text for text, carries_loss in segments if not carries_loss)
    for prompt_part in ("<|im_start|>system\nYou answer tersely.", "What is the capital of France?",
                        "And of Peru?", "<|im_start|>assistant\n"):
        assert prompt_part in unsupervised
    # The whole rendered conversation is covered, in order, with nothing lost or duplicated.
    rendered = tokenizer.apply_chat_template(MULTI_TURN, tokenize=False)
    assert "".join(text for text, _ in segments) == rendered


def test_default_system_prompt_is_not_supervised(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    segments = explain_supervision(tokenizer, messages)
    assert "You are a helpful AI assistant named SmolLM" in segments[0][0] and not segments[0][1]
    assert supervised(tokenizer, messages) == ["Hello!<|im_end|>"]


def test_conversation_starting_with_the_assistant(tokenizer):
    messages = [{"role": "assistant", "content": "How can I help?"},
                {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye."}]
    assert supervised(tokenizer, messages) == ["How can I help?<|im_end|>", "Goodbye.<|im_end|>"]


def test_other_chat_templates_work_without_special_cases(tokenizer):
    other = copy.copy(tokenizer)
    # Zephyr-style: different role markers, a "</s>" end marker that is not this tokenizer's eos.
    other.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    assert supervised(other, MULTI_TURN) == ["Paris.</s>", "Lima, on the Pacific coast.\n</s>"]


def test_labels_equal_input_ids_where_supervised(tokenizer):
    example = tokenize_example(tokenizer, MULTI_TURN, max_seq_length=1024)
    assert len(example.labels) == len(example.input_ids)
    for token, label in zip(example.input_ids, example.labels):
        assert label in (token, IGNORE_INDEX)
    # The template's trailing "\n" after the last <|im_end|> is not learned.
    assert example.input_ids[-1] != example.labels[-1] == IGNORE_INDEX


def test_truncation_keeps_the_start(tokenizer):
    full = tokenize_example(tokenizer, MULTI_TURN, max_seq_length=1024)
    cut = tokenize_example(tokenizer, MULTI_TURN, max_seq_length=50)
    assert len(full.input_ids) > 50 == len(cut.input_ids)
    assert cut.input_ids == full.input_ids[:50] and cut.labels == full.labels[:50]


def test_padding_is_masked_and_batches_pad_to_their_longest(tokenizer):
    short = tokenize_example(tokenizer, MULTI_TURN[:3], max_seq_length=1024)
    long = tokenize_example(tokenizer, MULTI_TURN, max_seq_length=1024)
    batch = collate([short, long], pad_token_id=tokenizer.pad_token_id)
    n = len(short.input_ids)
    assert batch["input_ids"].shape == (2, len(long.input_ids))
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(long.input_ids) - n)
    assert (batch["labels"][0, n:] == IGNORE_INDEX).all()
    assert batch["labels"][0, :n].tolist() == short.labels
    assert batch["labels"][1].tolist() == long.labels


@pytest.mark.parametrize("bad", [[{"role": "user", "content": "only a question"}]])
def test_no_assistant_turn_means_no_loss(tokenizer, bad):
    assert tokenize_example(tokenizer, bad, max_seq_length=1024).num_supervised == 0
