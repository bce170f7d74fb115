"""The `tuneloop` CLI, driven through typer's CliRunner against the fake server."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tuneloop.cli import app

runner = CliRunner()


def invoke(address: str, *args: str):
    return runner.invoke(app, ["--address", address, *args], terminal_width=200)


@pytest.fixture
def invalid_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{nope\n{"prompt": "c", '
                    '"completion": "d"}\n"just a string"\n')
    return path


def test_datasets_upload_invalid_prints_lines_and_exits_1(state, address, invalid_file):
    result = invoke(address, "datasets", "upload", str(invalid_file), "--name", "broken")
    assert result.exit_code == 1, result.output
    assert "invalid" in result.stdout
    assert "2 problem(s) in broken" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "not JSON" in line or "needs" in line]
    assert len(rows) == 2
    assert rows[0].split("│")[1].strip() == "2"
    assert rows[1].split("│")[1].strip() == "4"
    assert state.upload_log[0][1] == "broken"


def test_datasets_upload_ready_exits_0(address, tmp_path):
    path = tmp_path / "good.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n')
    result = invoke(address, "datasets", "upload", str(path))
    assert result.exit_code == 0, result.output
    assert "ready" in result.stdout and "examples: 1" in result.stdout


def test_jobs_list_shows_jobs(address, client, ready_dataset):
    ok = client.jobs.create(base_model="smollm2-135m", dataset=ready_dataset, adapter="math")
    bad = client.jobs.create(base_model="broken-model", dataset=ready_dataset, adapter="math")
    result = invoke(address, "jobs", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    ok_line = next(line for line in lines if ok.id in line)
    bad_line = next(line for line in lines if bad.id in line)
    assert "succeeded" in ok_line and "math@v1" in ok_line and "5/5" in ok_line
    assert "failed" in bad_line and "broken-model" in bad_line
    filtered = invoke(address, "jobs", "list", "--state", "failed")
    assert bad.id in filtered.stdout and ok.id not in filtered.stdout


def test_server_error_is_red_message_and_exit_1(state, address):
    result = invoke(address, "jobs", "get", "job-404")
    assert result.exit_code == 1
    assert "job job-404 not found" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_local_validation_error_exit_1(state, address):
    result = invoke(address, "jobs", "create", "--base-model", "m", "--dataset", "ds-1",
                    "--adapter", "a", "--hp", "lora_rnk=8")
    assert result.exit_code == 1
    assert "unknown hyperparameter 'lora_rnk'" in result.stderr
    assert state.calls["CreateJob"] == 0


def test_jobs_create_with_hp_and_watch(state, address, ready_dataset):
    result = invoke(address, "jobs", "create", "--base-model", "smollm2-135m", "--dataset",
                    ready_dataset.id, "--adapter", "math", "--epochs", "2", "--hp",
                    "lora_alpha=32", "--hp", "target_modules=q_proj,v_proj", "--watch")
    assert result.exit_code == 0, result.output
    hp = state.create_requests[-1].hyperparameters
    assert (hp.epochs, hp.lora_alpha, list(hp.target_modules)) == (2, 32.0, ["q_proj", "v_proj"])
    assert "created job job-1" in result.stdout
    assert "saving adapter" in result.stdout  # log lines are printed
    assert "succeeded" in result.stdout and "math@v1" in result.stdout


def test_jobs_watch_failed_job_exits_1(address, client, ready_dataset):
    job = client.jobs.create(base_model="broken-model", dataset=ready_dataset, adapter="math")
    result = invoke(address, "jobs", "watch", job.id)
    assert result.exit_code == 1
    assert "failed" in result.stdout and "out of memory" in result.stdout


def test_generate_prints_text_and_request_id(address):
    result = invoke(address, "generate", "--model", "support", "hello world", "--stream")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "echo: hello world"
    assert "request_id req-1" in result.stderr


def test_unreachable_server_hint():
    result = runner.invoke(app, ["--address", "127.0.0.1:1", "adapters", "list"])
    assert result.exit_code == 1
    assert "is a tuneloop server running at 127.0.0.1:1?" in " ".join(result.stderr.split())
