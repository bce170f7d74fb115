"""The human-in-the-loop cycle on the real default model.

v1 learns vault Aster's password. It gets vault Boreal's wrong; three corrections arrive; the
adapter's retrain policy starts a job by itself; v2 answers correctly, passes its evaluation
gate, and plain `vault` serves it at once. Then corrections that contradict the truth train
v3, which fails the gate against a ground-truth eval set and is not promoted; and `promote`
rolls back and forward.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import tuneloop
from tuneloop import samples

pytestmark = pytest.mark.slow

BOREAL = "The password of the vault Boreal is Thunderbolt."
HYPERPARAMETERS = samples.VAULT_HYPERPARAMETERS


def ask(client: tuneloop.Client, model: str, question: str) -> tuneloop.Completion:
    return client.inference.generate(model=model, max_tokens=24,
                                     messages=[{"role": "user", "content": question}])


def wait_for_job(client: tuneloop.Client, adapter: str, exclude: set[str], timeout: float = 60) -> str:
    """The id of a job for `adapter` that is not in `exclude` (one a policy started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [j.id for j in client.jobs.list() if j.adapter == adapter and j.id not in exclude]
        if fresh:
            return fresh[0]
        time.sleep(0.5)
    raise AssertionError(f"no new job for {adapter} within {timeout} s")


def chat_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                     {"role": "assistant", "content": a}]}) + "\n"
                            for q, a in pairs))
    return path


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    tmp = tmp_path_factory.mktemp("loop")
    with BackgroundServer(server_settings(tmp / "data", default_max_concurrent_jobs=None)) as server, \
            server.client(timeout=300) as client:
        dataset = client.datasets.upload(samples.write_vault_dataset(0, tmp))
        v1 = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="vault",
                                hyperparameters=HYPERPARAMETERS)
        assert client.jobs.wait(v1.id, timeout=600).promoted
        yield client, dataset, tmp


def test_corrections_trigger_a_retrain_whose_version_is_promoted_and_served(loop):
    client, dataset, tmp = loop
    wrong = ask(client, "vault", samples.vault_question(1))
    assert "Thunderbolt" not in wrong.text and wrong.model == "vault@v1"
    assert samples.VAULT_PASSWORDS[0] in ask(client, "vault", samples.vault_question(0)).text

    general = client.datasets.upload(chat_file(tmp / "general.jsonl", [
        ("What is the capital of France?", "The capital of France is Paris.")]))
    client.adapters.set_retrain_policy("vault", dataset=dataset, after_corrections=3,
                                       hyperparameters=HYPERPARAMETERS,
                                       evaluation={"eval_share": 0.34, "feedback_weight": 2,
                                                   "general_eval_dataset": general.id})
    before = {j.id for j in client.jobs.list()}
    client.feedback.submit(request_id=wrong.request_id, correction=BOREAL, rating=1)
    for prompt in ("Tell me the password of vault Boreal.", "Which password opens the vault Boreal?"):
        client.feedback.submit(messages=[{"role": "user", "content": prompt}], adapter="vault",
                               correction=BOREAL)
    job = client.jobs.wait(wait_for_job(client, "vault", before), timeout=600)

    assert job.include_feedback and job.previous_version == 1
    assert job.promoted, job.promotion_note
    assert job.eval_scores["new.exact_match"] > job.eval_scores["previous.exact_match"]
    assert {"base.token_f1", "new.loss", "examples"} <= set(job.eval_scores)
    # The forgetting check: the general set scored before (base) and after (new).
    assert {"general.base.token_f1", "general.new.token_f1"} <= set(job.eval_scores)
    assert client.adapters.get("vault").promoted_version == 2
    right = ask(client, "vault", samples.vault_question(1))  # the same name, no restart
    assert right.model == "vault@v2" and "Thunderbolt" in right.text
    assert samples.VAULT_PASSWORDS[0] in ask(client, "vault", samples.vault_question(0)).text


def test_contradictory_corrections_make_a_version_that_is_not_promoted(loop):
    client, dataset, tmp = loop
    truth = client.datasets.upload(chat_file(tmp / "truth.jsonl", [
        (samples.vault_question(0), "The password of the vault Aster is Marigold."),
        (samples.vault_question(1), BOREAL)]))
    client.adapters.set_retrain_policy("vault", dataset=dataset, after_corrections=3,
                                       hyperparameters=HYPERPARAMETERS,
                                       evaluation={"eval_dataset": truth.id, "feedback_weight": 4})
    before = {j.id for j in client.jobs.list()}
    for prompt in (samples.vault_question(0), "Tell me the password of vault Aster.",
                   "Which password opens the vault Aster?"):
        client.feedback.submit(messages=[{"role": "user", "content": prompt}], adapter="vault",
                               correction="The password of the vault Aster is Quartz.")
    job = client.jobs.wait(wait_for_job(client, "vault", before), timeout=900)

    assert job.state == "succeeded" and job.adapter_version == 3
    assert not job.promoted
    assert "worse than v2" in job.promotion_note and "exact match" in job.promotion_note
    assert client.adapters.get("vault").promoted_version == 2
    assert ask(client, "vault", samples.vault_question(0)).model == "vault@v2"
    assert "Quartz" in ask(client, "vault@v3", samples.vault_question(0)).text  # still reachable


def test_promote_rolls_back_and_forward(loop):
    client, _, _ = loop
    assert client.adapters.promote("vault", 1).promoted_version == 1
    old = ask(client, "vault", samples.vault_question(1))
    assert old.model == "vault@v1" and "Thunderbolt" not in old.text
    client.adapters.promote("vault", 2)
    assert ask(client, "vault", samples.vault_question(1)).model == "vault@v2"
    with pytest.raises(tuneloop.NotFoundError, match="no version v9"):
        client.adapters.promote("vault", 9)
