"""From the Nth correction to the new version answering, on the default model on CPU.

v1 of an adapter learns one vault password; a retrain policy waits for 3 corrections about
another vault; the clock starts when the 3rd correction is sent and stops when plain `vault`
first answers with the corrected password. The job's own events split the interval into
queue wait, training, evaluation and publishing. No baseline applies: the issue asks for the
time itself.

    PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_feedback_loop.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _sub in ("gpu_worker", "server", "sdk", "bench"):
    if str(ROOT / _sub) not in sys.path:
        sys.path.insert(0, str(ROOT / _sub))

from bench_service_overhead import write_section  # noqa: E402

SECTION = "## From the Nth correction to the new version answering"
ANSWER = "The password of the vault Boreal is Thunderbolt."
PROMPTS = ("What is the password of the vault Boreal?", "Tell me the password of vault Boreal.",
           "Which password opens the vault Boreal?")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    p.add_argument("--cache-dir", type=Path)
    return p.parse_args(argv)


def measure(cache_dir: Path, data_dir: Path) -> dict:
    from tuneloop import samples
    from tuneloop_server.config import ServerSettings
    from tuneloop_server.embedded import BackgroundServer

    settings = ServerSettings(address="127.0.0.1:0", data_dir=data_dir, cache_dir_override=cache_dir)
    with BackgroundServer(settings) as server, server.client(timeout=600) as client:
        dataset = client.datasets.upload(samples.write_vault_dataset(0, data_dir))
        v1 = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="vault",
                                hyperparameters=samples.VAULT_HYPERPARAMETERS)
        client.jobs.wait(v1.id, timeout=900)
        client.adapters.set_retrain_policy("vault", dataset=dataset, after_corrections=len(PROMPTS),
                                           hyperparameters=samples.VAULT_HYPERPARAMETERS,
                                           evaluation={"eval_share": 0.34, "feedback_weight": 2})
        for prompt in PROMPTS[:-1]:
            client.feedback.submit(messages=[{"role": "user", "content": prompt}], adapter="vault",
                                   correction=ANSWER)
        start = time.time()
        client.feedback.submit(messages=[{"role": "user", "content": PROMPTS[-1]}], adapter="vault",
                               correction=ANSWER)
        while True:
            out = client.inference.generate(model="vault", max_tokens=24,
                                            messages=[{"role": "user", "content": PROMPTS[0]}])
            if "Thunderbolt" in out.text:
                break
            time.sleep(0.5)
        answered = time.time()
        [job] = [j for j in client.jobs.list() if j.adapter == "vault" and j.id != v1.id]
        events = list(client.jobs.watch(job.id))
    return {"total_s": answered - start, "answer": out.text, "model": out.model,
            "promotion_note": job.promotion_note, "eval_scores": job.eval_scores,
            "steps": job.total_steps, "phases": phases(start, events, answered)}


def phases(start: float, events: list, answered: float) -> dict[str, float]:
    def first(predicate) -> float:
        return next(e.created_at.timestamp() for e in events if predicate(e))

    running = first(lambda e: e.type == "state" and e.state == "running")
    trained = max(e.created_at.timestamp() for e in events if e.type == "metrics")
    evaluated = max(e.created_at.timestamp() for e in events if e.type == "eval")
    succeeded = first(lambda e: e.type == "state" and e.state == "succeeded")
    return {"3rd correction -> job running": running - start,
            "running -> last training step (model load + training)": trained - running,
            "last step -> evaluation done (base, v1, v2 answer the held-out corrections)": evaluated - trained,
            "evaluation -> SUCCEEDED (publish, load for serving)": succeeded - evaluated,
            "SUCCEEDED -> first right answer on plain `vault`": answered - succeeded}


def render(r: dict, raw_file: Path) -> str:
    rows = [f"| {name} | {seconds:.1f} |" for name, seconds in r["phases"].items()]
    return "\n".join([
        SECTION, "",
        "v1 of `vault` learns vault Aster's password; a retrain policy waits for 3 corrections of "
        "vault Boreal's; the clock runs from sending the 3rd correction until plain `vault` first "
        f"answers with the corrected password. The new version trained {r['steps']} steps on 2 CPU "
        "cores (smollm2-135m).", "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} cores; 1-min load average {os.getloadavg()[0]:.1f} at the end",
        f"- answer: {r['answer']!r} from {r['model']}; gate: {r['promotion_note']}", "",
        f"**Total: {r['total_s']:.1f} s**", "",
        "| phase | seconds |", "|---|---:|", *rows, "",
        "Reproduce: `PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_feedback_loop.py` "
        f"(raw numbers: `{raw_file.relative_to(ROOT)}`, not committed).", "",
    ])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir or os.environ.get("TUNELOOP_CACHE_DIR") or out_dir / "cache").resolve()
    with tempfile.TemporaryDirectory(prefix="tuneloop-bench-loop-") as tmp:
        result = measure(cache, Path(tmp))
    raw_file = out_dir / f"feedback_loop-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    raw_file.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    section = render(result, raw_file)
    write_section(args.out, section)
    print("\n" + section)


if __name__ == "__main__":
    main()
