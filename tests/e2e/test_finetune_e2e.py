"""The whole product on the real stack: upload → fine-tune → live progress → serve → correct.

One real fine-tune of smollm2-135m on the sample facts (a few minutes on 2 CPU cores); the
tests in this module share it and check different promises about it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import tuneloop
from tuneloop import samples

pytestmark = pytest.mark.slow


@dataclass
class Run:
    client: tuneloop.Client
    server: object
    job: tuneloop.Job
    events: list[tuple[float, tuneloop.JobEvent]]  # (time received, event)


def ask(client: tuneloop.Client, model: str, question: str) -> tuneloop.Completion:
    return client.inference.generate(model=model, messages=[{"role": "user", "content": question}],
                                     max_tokens=48, temperature=0.0)


def knows(client: tuneloop.Client, model: str) -> list[bool]:
    """Ask every held-out question at once: the serving engine batches concurrent requests."""
    items = samples.eval_questions()
    with ThreadPoolExecutor(len(items)) as pool:
        answers = list(pool.map(lambda item: ask(client, model, item["question"]).text, items))
    return [item["expect"].lower() in answer.lower() for item, answer in zip(items, answers)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    server = BackgroundServer(server_settings(tmp_path_factory.mktemp("e2e")))
    server.start()
    client = server.client()
    try:
        dataset = client.datasets.upload(samples.train_path(), name="facts")
        assert dataset.status == "ready", dataset.errors
        job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="facts",
                                 hyperparameters=samples.SAMPLE_HYPERPARAMETERS)
        events = [(time.monotonic(), ev) for ev in client.jobs.watch(job.id)]
        yield Run(client, server, client.jobs.get(job.id), events)
    finally:
        client.close()
        server.stop()


def test_job_succeeds_and_publishes_version_one(run):
    assert run.job.state == "succeeded", run.job.error
    assert run.job.adapter_version == 1
    assert run.client.adapters.get("facts").latest_version == 1
    types = [ev.type for _, ev in run.events]
    assert types[-3:] == ["adapter_ready", "log", "state"]
    assert "facts@v1 promoted" in run.events[-2][1].message  # the first version always is
    assert [ev.state for _, ev in run.events if ev.type == "state"] == ["queued", "running", "succeeded"]


def test_events_are_gap_free_and_metrics_stream_while_training(run):
    seqs = [ev.seq for _, ev in run.events]
    assert seqs == list(range(1, len(seqs) + 1))
    metrics = [(t, ev) for t, ev in run.events if ev.type == "metrics"]
    assert len(metrics) == run.job.total_steps >= 5
    assert [ev.step for _, ev in metrics] == list(range(1, len(metrics) + 1))
    for _, ev in metrics:
        assert {"loss", "learning_rate", "tokens_per_second", "eta_seconds"} <= set(ev.metrics)
    # Streamed live: step events arrive spread over the run, not in one burst at the end.
    start, end = run.events[0][0], run.events[-1][0]
    assert metrics[-1][0] - metrics[0][0] > 0.3 * (end - start)
    assert metrics[-1][1].metrics["loss"] < metrics[0][1].metrics["loss"]


def test_adapter_states_the_facts_the_base_model_does_not_know(run):
    tuned = knows(run.client, "facts")
    base = knows(run.client, "smollm2-135m")
    # Most held-out paraphrases, not all: a 135M model after ~50 CPU steps is good, not perfect.
    assert sum(tuned) >= 0.75 * len(tuned), tuned
    assert sum(base) == 0, base
    assert knows(run.client, "facts@v1") == tuned


def test_stream_matches_generate(run):
    question = samples.eval_questions()[0]["question"]
    chunks = list(run.client.inference.stream(
        model="facts", messages=[{"role": "user", "content": question}], max_tokens=48))
    assert len(chunks) > 2
    assert "".join(c.text for c in chunks) == ask(run.client, "facts", question).text
    assert chunks[-1].finish_reason in ("stop", "length") and chunks[-1].usage.completion_tokens > 0


def test_published_adapter_matches_plain_peft(run, base_model_dir: Path, tmp_path: Path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    version = run.client.adapters.get("facts").versions[-1]
    plane = run.server.plane
    record = plane.store.get_adapter_version("tn_default", "facts", version.version)
    plane.objects.get_dir(record.object_key, tmp_path / "adapter")

    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32), tmp_path / "adapter")
    for item in samples.eval_questions()[:2]:
        messages = [{"role": "user", "content": item["question"]}]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_tensors="pt", return_dict=True)
        out = model.generate(**inputs, max_new_tokens=48, do_sample=False)
        expected = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        assert ask(run.client, "facts", item["question"]).text == expected


def test_watch_resumes_after_a_disconnect_without_gap_or_duplicate(run):
    stream = run.client.jobs.watch(run.job.id)
    first = [next(stream) for _ in range(4)]
    stream.close()  # the client goes away mid-stream
    rest = list(run.client.jobs.watch(run.job.id, after_seq=first[-1].seq))
    seen = [ev.seq for ev in first + rest]
    assert seen == [ev.seq for _, ev in run.events]


def test_corrections_are_stored_against_the_logged_request(run):
    question = samples.eval_questions()[0]["question"]
    out = ask(run.client, "facts", question)
    fix = run.client.feedback.submit(request_id=out.request_id, correction="A better answer.",
                                     rating=2, note="too terse")
    assert fix.adapter == "facts" and fix.adapter_version == 1
    assert fix.messages == [{"role": "user", "content": question}]
    assert fix.output == out.text
    assert [f.id for f in run.client.feedback.list(adapter="facts")] == [fix.id]
