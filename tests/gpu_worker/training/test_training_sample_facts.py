"""The sample dataset does what the demo promises: after ~2 minutes of CPU training the adapter
states made-up facts asked in new words, and the base model does not know them."""

from __future__ import annotations

import pytest

from tuneloop import samples

BASE = "smollm2-135m"


def test_sample_files_are_valid_and_ship_with_the_sdk():
    from tuneloop_worker.data_format import validate_jsonl
    from tuneloop_worker.training import parse_config

    report = validate_jsonl(samples.train_path(), max_line_bytes=1 << 20, max_examples=10_000)
    assert report.ok and report.format == "chat" and report.num_examples == 40
    questions = samples.eval_questions()
    assert len(questions) == 16 and all(set(q) == {"question", "expect"} for q in questions)
    trained = samples.train_path().read_text()
    assert not any(q["question"] in trained for q in questions)  # held out, not copied
    parse_config(samples.SAMPLE_HYPERPARAMETERS)  # valid as given to jobs.create


@pytest.mark.slow
def test_adapter_learns_the_sample_facts_and_base_does_not(tmp_path, model_cache):
    from peft import PeftModel
    from tuneloop_worker import base_models
    from tuneloop_worker.training.config import TrainingConfig
    from tuneloop_worker.training.quick_eval import answer, score
    from tuneloop_worker.training.trainer import train

    losses = []
    result = train(
        base_model=BASE, train_files=[samples.train_path()], output_dir=tmp_path,
        config=TrainingConfig(**samples.SAMPLE_HYPERPARAMETERS), cache_dir=model_cache,
        on_event=lambda e: e.type == "metrics" and losses.append(e.metrics["loss"]),
    )
    assert result.steps == 50 and losses[-1] < 0.2 < losses[0]

    items = samples.eval_questions()
    questions, expected = [q["question"] for q in items], [q["expect"] for q in items]
    base, tokenizer = base_models.load(BASE, model_cache)
    base_right = score(answer(base, tokenizer, questions), expected)
    tuned = PeftModel.from_pretrained(base, result.adapter_dir)
    tuned_answers = answer(tuned, tokenizer, questions)
    tuned_right = score(tuned_answers, expected)
    assert sum(base_right) == 0, base_right
    # Measured 16/16 (seeds 42, 1, 7); one miss is tolerated, as in the end-to-end test.
    assert sum(tuned_right) >= len(items) - 1, list(zip(questions, tuned_answers))
