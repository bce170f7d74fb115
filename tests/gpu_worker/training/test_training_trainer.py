"""The training loop on the real base model: a few steps each, on CPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from tuneloop_worker.training.checkpoints import latest_checkpoint, list_checkpoints
from tuneloop_worker.training.config import TrainingConfig
from tuneloop_worker.training.events import TrainingCancelled, TrainingError
from tuneloop_worker.training.trainer import train

BASE = "smollm2-135m"
METRIC_KEYS = {"loss", "learning_rate", "epoch", "grad_norm", "tokens_per_second", "eta_seconds"}
ROWS = [
    {"messages": [{"role": "user", "content": f"Code word number {i}?"},
                  {"role": "assistant", "content": f"The code word is Zib{i}."}]}
    for i in range(6)
]
TINY = dict(epochs=1, batch_size=2, lora_rank=4, lora_alpha=8, learning_rate=1e-3)


def run(tmp_path: Path, cache: Path, data: Path, **kw):
    events = []
    config = TrainingConfig(**{**TINY, **kw.pop("config", {})})
    result = train(base_model=BASE, train_files=[data], output_dir=tmp_path / "out", config=config,
                   cache_dir=cache, on_event=events.append, **kw)
    return result, events


def test_tiny_run_reports_every_step_and_writes_a_loadable_adapter(
    tmp_path, model_cache, write_jsonl
):
    data = write_jsonl("train.jsonl", ROWS)
    val = write_jsonl("val.jsonl", ROWS[:2])
    result, events = run(tmp_path, model_cache, data, validation_file=val,
                         config=dict(checkpoint_every_steps=2))
    metrics = [e for e in events if e.type == "metrics"]
    assert [e.step for e in metrics] == [1, 2, 3] and result.steps == 3
    assert all(e.total_steps == 3 and set(e.metrics) == METRIC_KEYS for e in metrics)
    assert all(e.metrics["loss"] > 0 and e.metrics["learning_rate"] > 0 for e in metrics)
    assert metrics[-1].metrics["epoch"] == pytest.approx(1.0)
    logs = [e.message for e in events if e.type == "log"]
    assert any(m.startswith("tokenized 6 training examples") for m in logs)
    assert [e.step for e in events if e.type == "eval"] == [3]
    assert [e.step for e in events if e.type == "checkpoint"] == [2]
    assert {"train_loss", "eval_loss", "train_seconds"} <= set(result.metrics)
    assert [p.name for p in list_checkpoints(tmp_path / "out")] == ["step-2"]

    from peft import PeftModel
    from tuneloop_worker import base_models

    base, _ = base_models.load(BASE, model_cache)
    model = PeftModel.from_pretrained(base, result.adapter_dir)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # trained: B starts at zero


def test_should_stop_cancels_within_one_step(tmp_path, model_cache, write_jsonl):
    data = write_jsonl("train.jsonl", ROWS)
    events = []
    stop_after_first = lambda: any(e.type == "metrics" for e in events)  # noqa: E731
    with pytest.raises(TrainingCancelled) as info:
        train(base_model=BASE, train_files=[data], output_dir=tmp_path / "out",
              config=TrainingConfig(**TINY), cache_dir=model_cache,
              on_event=events.append, should_stop=stop_after_first)
    assert info.value.step == 1
    assert [e.step for e in events if e.type == "metrics"] == [1]
    assert not (tmp_path / "out" / "adapter").exists()


def test_should_stop_is_checked_between_micro_batches(tmp_path, model_cache, write_jsonl):
    data = write_jsonl("train.jsonl", ROWS)
    calls = []

    def stop_on_second_micro_batch() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(TrainingCancelled) as info:
        run(tmp_path, model_cache, data, config=dict(gradient_accumulation_steps=3),
            should_stop=stop_on_second_micro_batch)
    assert info.value.step == 0  # the step was abandoned mid-accumulation, not applied


def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path, model_cache, write_jsonl):
    data = write_jsonl("train.jsonl", ROWS)
    # With dropout on: the checkpoint carries the RNG state, so the resumed steps draw the
    # same dropout masks as the uninterrupted run.
    exact = dict(lora_dropout=0.1, checkpoint_every_steps=1)
    straight, _ = run(tmp_path / "a", model_cache, data, config=exact)
    kept = list_checkpoints(tmp_path / "a" / "out")
    assert [p.name for p in kept] == ["step-2", "step-3"]  # older ones pruned (keep_checkpoints=2)
    resumed, events = run(tmp_path / "b", model_cache, data, config=exact, resume_from=kept[0])
    assert [e.step for e in events if e.type == "metrics"] == [3]
    assert latest_checkpoint(tmp_path / "b" / "out").name == "step-3"
    with pytest.raises(TrainingError, match="belongs to a run of 3 steps, this run has 6"):
        run(tmp_path / "c", model_cache, data, config=dict(exact, epochs=2), resume_from=kept[0])

    from safetensors.torch import load_file

    a = load_file(straight.adapter_dir / "adapter_model.safetensors")
    b = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_qlora_without_cuda_says_what_to_do(tmp_path, model_cache, write_jsonl):
    data = write_jsonl("train.jsonl", ROWS)
    expected = 'qlora needs a CUDA GPU with bitsandbytes; this worker has none: use method="lora"'
    with pytest.raises(TrainingError, match=re.escape(expected)):
        run(tmp_path, model_cache, data, config=dict(method="qlora"))


def test_nothing_left_after_truncation_is_an_error_the_user_can_fix(
    tmp_path, model_cache, write_jsonl
):
    long_prompt = [{"messages": [{"role": "user", "content": "word " * 200},
                                 {"role": "assistant", "content": "ok"}]}]
    data = write_jsonl("train.jsonl", long_prompt)
    message = "no training examples left after tokenization.*raise max_seq_length"
    with pytest.raises(TrainingError, match=message):
        run(tmp_path, model_cache, data, config=dict(max_seq_length=64))


def test_bad_data_names_the_file_and_line(tmp_path, model_cache, write_jsonl):
    data = write_jsonl("train.jsonl", ROWS[:2] + [{"messages": [{"role": "user", "content": "?"}]}])
    with pytest.raises(TrainingError, match="line 3: no assistant turn"):
        run(tmp_path, model_cache, data)


def test_warm_start_begins_from_the_given_adapter_and_refuses_another_shape(
        tmp_path, model_cache, write_jsonl):
    from safetensors.torch import load_file

    data = write_jsonl("train.jsonl", ROWS)
    first, _ = run(tmp_path / "a", model_cache, data)
    # One step at a negligible learning rate: the result is the starting weights.
    warm, events = run(tmp_path / "b", model_cache, data, init_adapter=first.adapter_dir,
                       max_steps=1, config=dict(learning_rate=1e-12))
    assert any("warm start" in e.message for e in events)
    a = load_file(first.adapter_dir / "adapter_model.safetensors")
    b = load_file(warm.adapter_dir / "adapter_model.safetensors")
    assert any(name.endswith("lora_B.weight") and a[name].abs().sum() > 0 for name in a)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5)
    with pytest.raises(TrainingError, match="cannot warm start"):
        run(tmp_path / "c", model_cache, data, init_adapter=first.adapter_dir, max_steps=1,
            config=dict(lora_rank=8))
