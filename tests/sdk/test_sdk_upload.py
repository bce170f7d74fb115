"""Dataset upload: header, chunks, trailer; sha256 and size computed while streaming."""

from __future__ import annotations

import hashlib

import grpc
import pytest

import tuneloop

ROWS = [
    '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}',
    '{"prompt": "2+2", "completion": "4"}',
    '{"prompt": "capital of France", "completion": "Paris"}',
]


def test_upload_streams_header_chunks_trailer(state, client, tmp_path):
    path = tmp_path / "support.jsonl"
    path.write_text("\n".join(ROWS) + "\n")
    data = path.read_bytes()
    seen: list[tuple[int, int]] = []
    ds = client.datasets.upload(path, name="support", chunk_size=32,
                                progress=lambda sent, total: seen.append((sent, total)))
    log = state.upload_log
    assert log[0] == ("header", "support", "support.jsonl", len(data))
    chunks = [entry[1] for entry in log[1:-1]]
    assert all(entry[0] == "chunk" for entry in log[1:-1])
    assert all(size <= 32 for size in chunks) and sum(chunks) == len(data)
    assert len(chunks) == -(-len(data) // 32)
    assert log[-1] == ("trailer", hashlib.sha256(data).hexdigest())
    assert ds.status == "ready" and ds.ready and ds.num_examples == 3 and ds.errors == []
    assert ds.sha256 == hashlib.sha256(data).hexdigest() and ds.size_bytes == len(data)
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)


def test_upload_invalid_dataset_names_lines(client, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([ROWS[0], "{oops", ROWS[1], "[1, 2]"]) + "\n")
    ds = client.datasets.upload(path)
    assert ds.name == "bad"  # defaults to the file stem
    assert ds.status == "invalid"
    assert [e.line for e in ds.errors] == [2, 4]
    assert "not JSON" in ds.errors[0].message
    assert client.datasets.get(ds.id) == ds
    assert [d.id for d in client.datasets.list()] == [ds.id]
    client.datasets.delete(ds.id)
    with pytest.raises(tuneloop.NotFoundError, match=ds.id):
        client.datasets.get(ds.id)


def test_upload_retries_unavailable_by_resending_the_file(state, client, tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(ROWS[1] + "\n")
    state.faults["UploadDataset"].append((grpc.StatusCode.UNAVAILABLE, "restarting"))
    ds = client.datasets.upload(path)
    assert state.calls["UploadDataset"] == 2
    assert ds.status == "ready" and ds.num_examples == 1


def test_missing_file_fails_before_any_call(state, client, tmp_path):
    with pytest.raises(FileNotFoundError):
        client.datasets.upload(tmp_path / "nope.jsonl")
    assert state.calls["UploadDataset"] == 0


def test_empty_file_still_sends_header_and_trailer(state, client, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    client.datasets.upload(path)
    assert [e[0] for e in state.upload_log] == ["header", "trailer"]
    assert state.upload_log[-1][1] == hashlib.sha256(b"").hexdigest()
