"""Bad input gets a clear error naming the line or field, and the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

import tuneloop
from tuneloop.v1 import datasets_pb2, datasets_pb2_grpc

GOOD_LINE = json.dumps({"messages": [{"role": "user", "content": "hi"},
                                     {"role": "assistant", "content": "hello"}]})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, server_settings) -> tuneloop.Client:
    from tuneloop_server.embedded import BackgroundServer

    root = tmp_path_factory.mktemp("bad-input")
    with BackgroundServer(server_settings(root / "data", embedded_workers=0)) as server:
        with server.client() as c:
            yield c


@pytest.fixture(scope="module")
def good_dataset(client: tuneloop.Client, tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("good") / "good.jsonl"
    path.write_text(GOOD_LINE + "\n")
    return client.datasets.upload(path, name="good")


def upload_bytes(client: tuneloop.Client, tmp_path: Path, data: bytes):
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    return client.datasets.upload(path)


@pytest.mark.parametrize("content, line, fragment", [
    (GOOD_LINE + "\n{\"messages\": [\n", 2, "not valid JSON"),
    (json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n", 1, "assistant"),
    (GOOD_LINE + "\n" + json.dumps({"messages": [{"role": "bot", "content": "x"},
                                                 {"role": "assistant", "content": "y"}]}), 2, "bot"),
    ("", 0, "empty"),
], ids=["malformed-json", "no-assistant-turn", "unknown-role", "empty-file"])
def test_invalid_datasets_name_the_line(client, tmp_path, content, line, fragment):
    dataset = upload_bytes(client, tmp_path, content.encode())
    assert dataset.status == "invalid"
    assert [e.line for e in dataset.errors] == [line]
    assert fragment in dataset.errors[0].message
    assert client.datasets.get(dataset.id).status == "invalid"


def test_non_utf8_bytes_are_reported_with_their_line(client, tmp_path):
    dataset = upload_bytes(client, tmp_path, GOOD_LINE.encode() + b"\n" + b'{"prompt": "\xff\xfe"}\n')
    assert dataset.status == "invalid"
    assert dataset.errors[0].line == 2
    assert "UTF-8" in dataset.errors[0].message


def test_a_job_on_an_invalid_dataset_says_why(client, tmp_path):
    dataset = upload_bytes(client, tmp_path, b"not json\n")
    with pytest.raises(tuneloop.FailedPreconditionError, match="line 1"):
        client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="x")


@pytest.mark.parametrize("overrides, error, fragment", [
    ({"base_model": "no-such-model"}, tuneloop.InvalidArgumentError, "unknown base_model 'no-such-model'"),
    ({"dataset": "ds_missing"}, tuneloop.NotFoundError, "ds_missing"),
    ({"hyperparameters": {"learning_rate": -0.1}}, tuneloop.InvalidArgumentError, "learning_rate"),
    ({"adapter": "team/support"}, tuneloop.InvalidArgumentError, "'/'"),
    ({"method": "full"}, tuneloop.InvalidArgumentError, "method"),
], ids=["unknown-base-model", "unknown-dataset", "negative-lr", "slash-in-adapter", "bad-method"])
def test_create_job_rejects_bad_requests(client, good_dataset, overrides, error, fragment):
    request = dict(base_model="smollm2-135m", dataset=good_dataset.id, adapter="ok")
    request.update(overrides)
    with pytest.raises(error) as info:
        client.jobs.create(**request)
    assert fragment in info.value.message
    assert client.jobs.list() == []  # nothing half-created


def test_checksum_mismatch_is_rejected(client):
    channel = grpc.insecure_channel(client.address)
    stub = datasets_pb2_grpc.DatasetServiceStub(channel)
    data = GOOD_LINE.encode()
    requests = [
        datasets_pb2.UploadDatasetRequest(header=datasets_pb2.UploadHeader(name="x", size_bytes=len(data))),
        datasets_pb2.UploadDatasetRequest(chunk=data),
        datasets_pb2.UploadDatasetRequest(trailer=datasets_pb2.UploadTrailer(sha256="0" * 64)),
    ]
    with pytest.raises(grpc.RpcError) as info:
        stub.UploadDataset(iter(requests), metadata=client._transport.metadata)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sha256 mismatch" in info.value.details()
    channel.close()


def test_unknown_ids_are_not_found(client):
    with pytest.raises(tuneloop.NotFoundError, match="job_nope"):
        client.jobs.get("job_nope")
    with pytest.raises(tuneloop.NotFoundError):
        list(client.jobs.watch("job_nope"))
    with pytest.raises(tuneloop.NotFoundError):
        client.adapters.get("nope")
    with pytest.raises(tuneloop.NotFoundError, match="req_nope"):
        client.feedback.submit(request_id="req_nope", correction="x")
    with pytest.raises(tuneloop.NotFoundError, match="neither"):
        client.inference.generate(model="nope", messages=[{"role": "user", "content": "hi"}])


def test_server_still_serves_after_all_that(client, good_dataset):
    assert client.datasets.get(good_dataset.id).status == "ready"
    assert good_dataset.id in [d.id for d in client.datasets.list()]


def test_limits_are_enforced_with_messages_that_say_the_limit(server_factory, tmp_path):
    server = server_factory(embedded_workers=0, max_examples=2, max_line_bytes=200)
    with server.client() as client:
        too_many = upload_bytes(client, tmp_path, (GOOD_LINE + "\n").encode() * 3)
        assert too_many.status == "invalid"
        assert any("2" in e.message and "limit" in e.message for e in too_many.errors)

        long_line = json.dumps({"prompt": "x" * 500, "completion": "y"}) + "\n"
        too_long = upload_bytes(client, tmp_path, (GOOD_LINE + "\n" + long_line).encode())
        assert [e.line for e in too_long.errors] == [2]
        assert "200" in too_long.errors[0].message
