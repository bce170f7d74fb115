"""Corrections through the API: explicit and bulk, scrubbed, validated; retrain policies and
promotion checks that need no training (a server without workers keeps jobs queued)."""

from __future__ import annotations

import json
import time

import pytest

import tuneloop
from tuneloop import samples


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    tmp = tmp_path_factory.mktemp("feedback-api")
    settings = server_settings(tmp / "data", embedded_workers=0, retrain_check_seconds=0.2,
                               default_max_concurrent_jobs=None)
    with BackgroundServer(settings) as server, server.client() as client:
        dataset = client.datasets.upload(samples.write_vault_dataset(0, tmp))
        yield client, dataset, tmp, server.api_key


def test_explicit_correction_with_personal_data_scrubbed(env):
    client, _, _, _ = env
    fb = client.feedback.submit(
        messages=[{"role": "user", "content": "Email jane@example.com or call +1 555 123 4567"}],
        adapter="support", correction="Card 4111 1111 1111 1111 is on file; write to ops@example.org",
        note="from jane@example.com", scrub_personal_data=True)
    assert fb.messages[0]["content"] == "Email [EMAIL] or call [PHONE]"
    assert fb.correction == "Card [CARD] is on file; write to [EMAIL]"
    assert fb.note == "from [EMAIL]" and fb.adapter == "support" and fb.request_id == ""


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(correction="x"), "give request_id"),
    (dict(correction="x", messages=[{"role": "user", "content": "q"}]), "adapter is required"),
    (dict(correction="x", adapter="a", messages=[{"role": "assistant", "content": "q"}]),
     "end the prompt with the user's turn"),
    (dict(correction=" ", adapter="a", messages=[{"role": "user", "content": "q"}]), "correction is empty"),
])
def test_bad_corrections_say_what_to_fix(env, kwargs, fragment):
    client, _, _, _ = env
    with pytest.raises(tuneloop.InvalidArgumentError, match=fragment):
        client.feedback.submit(**kwargs)


def test_bulk_import_csv_and_jsonl_all_or_nothing_with_line_numbers(env):
    client, _, tmp, _ = env
    good_csv = tmp / "good.csv"
    good_csv.write_text('prompt,correction,rating,note\n"Hi, who?",Me.,5,ok\nQ2,A2,,\n')
    assert client.feedback.import_file(good_csv, adapter="bulk").imported == 2

    bad_csv = tmp / "bad.csv"
    bad_csv.write_text("prompt,correction,rating\nQ1,A1,9\nQ2,,\nQ3,A3,2\n")
    result = client.feedback.import_file(bad_csv, adapter="bulk")
    assert result.imported == 0
    assert [(e.line, e.message.split(" ")[0]) for e in result.errors] == [(2, "rating"), (3, "correction")]

    jsonl = tmp / "bad.jsonl"
    jsonl.write_text("\n".join([
        json.dumps({"messages": [{"role": "user", "content": "q"}], "correction": "a"}),
        "{nope",
        json.dumps({"prompt": "q", "correction": "a"}),
        json.dumps({"correction": "a"}),
    ]) + "\n")
    result = client.feedback.import_file(jsonl, adapter="bulk")
    assert result.imported == 0 and [e.line for e in result.errors] == [2, 4]
    assert len(client.feedback.list(adapter="bulk")) == 2  # nothing from the bad files

    no_header = tmp / "plain.csv"
    no_header.write_text("question,answer\nq,a\n")
    assert "prompt and correction" in client.feedback.import_file(no_header, adapter="bulk").errors[0].message

    exported = tmp / "export.jsonl"
    assert client.feedback.export(exported, adapter="bulk") == 2
    assert client.feedback.import_file(exported, adapter="bulk-copy").imported == 2  # round trip


def test_a_scheduled_policy_starts_a_job_when_there_are_new_corrections(env):
    client, dataset, _, _ = env
    with pytest.raises(tuneloop.InvalidArgumentError, match="base_model is required"):
        client.adapters.set_retrain_policy("nightly", dataset=dataset, every_seconds=1)
    with pytest.raises(tuneloop.InvalidArgumentError, match="after_corrections or every_seconds"):
        client.adapters.set_retrain_policy("nightly", dataset=dataset, base_model="smollm2-135m")
    with pytest.raises(tuneloop.InvalidArgumentError, match="hyperparameters.epochs"):
        client.adapters.set_retrain_policy("nightly", dataset=dataset, base_model="smollm2-135m",
                                           every_seconds=1, hyperparameters={"epochs": 0})
    policy = client.adapters.set_retrain_policy("nightly", dataset=dataset, base_model="smollm2-135m",
                                                every_seconds=1, evaluation={"feedback_weight": 2})
    assert client.adapters.get_retrain_policy("nightly") == policy
    time.sleep(1.5)
    assert not [j for j in client.jobs.list() if j.adapter == "nightly"]  # no corrections yet
    client.feedback.submit(messages=[{"role": "user", "content": "q"}], adapter="nightly",
                           correction="a")
    deadline = time.monotonic() + 30
    while not (jobs := [j for j in client.jobs.list() if j.adapter == "nightly"]):
        assert time.monotonic() < deadline, "the schedule did not start a job"
        time.sleep(0.2)
    assert len(jobs) == 1 and jobs[0].include_feedback and jobs[0].evaluation["feedback_weight"] == 2
    time.sleep(1.5)
    assert len([j for j in client.jobs.list() if j.adapter == "nightly"]) == 1  # one at a time


def test_evaluation_options_are_checked(env):
    client, dataset, _, _ = env
    with pytest.raises(tuneloop.InvalidArgumentError, match="unknown evaluation option"):
        client.jobs.create(base_model="smollm2-135m", dataset=dataset, adapter="x",
                           evaluation={"eval_sahre": 0.2})
    with pytest.raises(tuneloop.InvalidArgumentError, match="eval_share"):
        client.jobs.create(base_model="smollm2-135m", dataset=dataset, adapter="x",
                           evaluation={"eval_share": 1.5})
    with pytest.raises(tuneloop.FailedPreconditionError, match="warm_start needs a published version"):
        client.jobs.create(base_model="smollm2-135m", dataset=dataset, adapter="fresh",
                           evaluation={"warm_start": True})
    with pytest.raises(tuneloop.NotFoundError):
        client.jobs.create(base_model="smollm2-135m", dataset=dataset, adapter="x",
                           evaluation={"eval_dataset": "ds_0000000000000000"})
    with pytest.raises(tuneloop.NotFoundError):
        client.adapters.promote("never-trained", 1)


def test_cli_imports_exports_and_sets_a_policy(env, tmp_path):
    from typer.testing import CliRunner

    from tuneloop.cli import app

    client, dataset, _, api_key = env
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["--address", client.address, "--api-key", api_key, *args],
                             terminal_width=200)

    good = tmp_path / "reviewed.csv"
    good.write_text("prompt,correction\nq1,a1\nq2,a2\n")
    result = cli("feedback", "import", str(good), "--adapter", "cli")
    assert result.exit_code == 0 and "imported 2" in result.stdout, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,correction\nq1,\n")
    result = cli("feedback", "import", str(bad), "--adapter", "cli")
    assert result.exit_code == 1 and "nothing was imported" in result.output
    out = tmp_path / "out.jsonl"
    assert "wrote 2" in cli("feedback", "export", str(out), "--adapter", "cli").stdout
    assert len(out.read_text().splitlines()) == 2
    result = cli("adapters", "policy", "cli", "--dataset", dataset.id, "--after-corrections", "10")
    assert result.exit_code == 1 and "base_model is required" in result.output  # no version yet
