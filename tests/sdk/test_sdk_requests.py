"""Local validation and request building: bad input fails before anything is sent."""

from __future__ import annotations

import pytest

import tuneloop
from tuneloop import _convert as conv
from tuneloop.v1 import jobs_pb2


def test_unknown_hyperparameter_rejected_locally(state, client, ready_dataset):
    with pytest.raises(tuneloop.InvalidArgumentError) as info:
        client.jobs.create(base_model="m", dataset=ready_dataset, adapter="x",
                           hyperparameters={"epochs": 2, "learnig_rate": 1e-4})
    assert "'learnig_rate'" in info.value.message
    assert "learning_rate" in info.value.message  # the valid keys are listed
    assert "lora_rank" in info.value.message
    assert state.calls["CreateJob"] == 0 and state.create_keys == []


def test_hyperparameters_reach_the_server_typed(state, client, ready_dataset):
    job = client.jobs.create(
        base_model="m", dataset=ready_dataset, adapter="x", method="qlora",
        hyperparameters={"epochs": 3, "learning_rate": 2e-4, "lora_rank": 16,
                         "target_modules": ["q_proj", "v_proj"]},
    )
    sent = state.create_requests[-1]
    assert sent.method == jobs_pb2.METHOD_QLORA
    assert sent.hyperparameters.epochs == 3
    assert sent.hyperparameters.learning_rate == pytest.approx(2e-4)
    assert list(sent.hyperparameters.target_modules) == ["q_proj", "v_proj"]
    assert not sent.hyperparameters.HasField("batch_size")  # unset stays unset
    assert job.hyperparameters == {"epochs": 3, "learning_rate": pytest.approx(2e-4),
                                   "lora_rank": 16, "target_modules": ["q_proj", "v_proj"]}
    assert job.method == "qlora"


def test_wrong_hyperparameter_type_names_the_key():
    with pytest.raises(tuneloop.InvalidArgumentError, match="'epochs'"):
        conv.build_hyperparameters({"epochs": "three"})


def test_parse_hyperparameter_from_text():
    assert conv.parse_hyperparameter("epochs", "3") == 3
    assert conv.parse_hyperparameter("lora_dropout", "0.05") == pytest.approx(0.05)
    assert conv.parse_hyperparameter("target_modules", "q_proj, v_proj") == ["q_proj", "v_proj"]
    with pytest.raises(tuneloop.InvalidArgumentError, match="cannot read 'x'"):
        conv.parse_hyperparameter("lora_rank", "x")


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"method": "full"}, "unknown method 'full'"),
    ({"dataset": 42}, "dataset must be a dataset id"),
    ({"validation_dataset": 3.5}, "validation_dataset must be"),
])
def test_bad_create_arguments_fail_locally(state, client, kwargs, fragment):
    args = dict(base_model="m", dataset="ds-1", adapter="x") | kwargs
    with pytest.raises(tuneloop.InvalidArgumentError, match=fragment):
        client.jobs.create(**args)
    assert state.calls["CreateJob"] == 0


def test_bad_job_state_filter(state, client):
    with pytest.raises(tuneloop.InvalidArgumentError, match="queued, running"):
        client.jobs.list(state="done")
    assert state.calls["ListJobs"] == 0


@pytest.mark.parametrize(("messages", "fragment"), [
    ([], "non-empty list"),
    ("hello", "non-empty list"),
    ([{"role": "user", "content": "hi"}, {"role": "user"}], r"messages\[1\]"),
    ([{"role": "robot", "content": "hi"}], r"messages\[0\]: role must be one of"),
    ([{"role": "user", "content": 5}], r"messages\[0\].*content of type int"),
])
def test_messages_shape_checked_locally(state, client, messages, fragment):
    with pytest.raises(tuneloop.InvalidArgumentError, match=fragment):
        client.inference.generate(model="support", messages=messages)
    with pytest.raises(tuneloop.InvalidArgumentError, match=fragment):
        client.inference.stream(model="support", messages=messages)
    assert state.calls["Generate"] == 0 and state.calls["StreamGenerate"] == 0


def test_generate_stream_and_feedback_roundtrip(state, client):
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]
    out = client.inference.generate(model="support", messages=msgs, max_tokens=8, seed=1)
    assert (out.text, out.model, out.finish_reason) == ("echo: hi there", "support@v2", "stop")
    assert out.usage == tuneloop.Usage(prompt_tokens=7, completion_tokens=3)
    chunks = list(client.inference.stream(model="support", messages=msgs))
    assert "".join(c.text for c in chunks) == "echo: hi there"
    assert [c.usage is not None for c in chunks] == [False, False, True]
    assert chunks[-1].finish_reason == "stop"
    fb = client.feedback.submit(request_id=out.request_id, correction="hello", rating=5)
    assert (fb.adapter, fb.adapter_version, fb.rating, fb.output) == (
        "support", 2, 5, "echo: hi there")
    assert [f.id for f in client.feedback.list(adapter="support")] == [fb.id]
    assert client.feedback.list(adapter="other") == []


def test_adapters_and_timestamps(client):
    (adapter,) = client.adapters.list()
    assert adapter.name == "support" and adapter.latest_version == 2
    assert [v.version for v in adapter.versions] == [1, 2]
    assert adapter.created_at is not None and adapter.created_at.tzinfo is not None
    assert client.adapters.get("support").versions[0].job_id == "job-1"


def test_unset_timestamps_read_as_none(client, ready_dataset):
    job = client.jobs.create(base_model="m", dataset=ready_dataset, adapter="x")
    assert job.created_at is not None and job.created_at.tzinfo is not None
    assert job.started_at is None and job.finished_at is None
    assert not job.done
