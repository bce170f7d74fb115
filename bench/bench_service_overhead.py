"""Fine-tune through the service vs the same training steps run directly with transformers + peft.

The issue's targets: CreateJob -> SUCCEEDED within 1.10x of a plain transformers + peft script on
the same data, model and hyperparameters; CreateJob -> first step event under 5 s with the base
model already cached. Both sides run in this process (the embedded service trains in a thread of
it), so they share torch's thread pool, the page cache and whatever else loads the machine.

    PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_service_overhead.py [--epochs N] [--repeats N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import logging
import math
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _sub in ("gpu_worker", "server", "sdk"):  # runnable without PYTHONPATH too
    if str(ROOT / _sub) not in sys.path:
        sys.path.insert(0, str(ROOT / _sub))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BASE_MODEL = "smollm2-135m"
SECTION = "## Fine-tune through the service vs direct peft"
RATIO_TARGET, FIRST_STEP_TARGET = 1.10, 5.0
IGNORE = -100  # label value cross_entropy skips


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", type=Path, help="JSONL training data (default: the SDK's sample facts)")
    p.add_argument("--epochs", type=int, help="override the sample hyperparameters' epochs")
    p.add_argument("--repeats", type=int, default=1, help="runs of each side; medians are reported")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md", help="results markdown")
    p.add_argument("--cache-dir", type=Path, help="base-model cache (default: $TUNELOOP_CACHE_DIR "
                   "or bench/out/cache)")
    return p.parse_args(argv)


# ---- the baseline: only torch, transformers and peft ----------------------------------------

def read_conversations(path: Path) -> list[list[dict[str, str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["messages"] if "messages" in r else
            [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]
            for r in rows]


def tokenize(tokenizer, messages: list[dict[str, str]], max_len: int) -> tuple[list[int], list[int]]:
    """Chat-template ids, labels on assistant turns (content + end-of-turn marker) only."""
    def render(msgs, prompt=False):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)

    spans = [(len(render(messages[:i], True)) if i else 0, len(render(messages[: i + 1]).rstrip()))
             for i, m in enumerate(messages) if m["role"] == "assistant"]
    enc = tokenizer(render(messages), add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    labels = [t if any(a < e and b > s for s, e in spans) else IGNORE
              for t, (a, b) in zip(ids, enc["offset_mapping"])]
    return ids[:max_len], labels[:max_len]


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-grouped batches (shuffle, sort inside windows of 16 batches, shuffle the batches).

    The same grouping as the service's recipe, so both sides pad the same tokens and a time
    difference is overhead, not a different amount of padding.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window, batches = batch_size * 16, []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def micro_batch_loss(model, rows: list[tuple[list[int], list[int]]], pad_id: int) -> torch.Tensor:
    """Summed cross-entropy; logits only where a label follows, as the service's loop does
    (a full-vocabulary projection at every position would make the baseline the slower side)."""
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (row_ids, row_labels) in enumerate(rows):
        ids[r, : len(row_ids)], labels[r, : len(row_ids)] = torch.tensor(row_ids), torch.tensor(row_labels)
        mask[r, : len(row_ids)] = 1
    targets = labels[:, 1:]
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(1)
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets[:, keep].reshape(-1),
                           ignore_index=IGNORE, reduction="sum")


def run_baseline(base_dir: Path, dataset: Path, cfg, out_dir: Path) -> dict:
    """Model load -> adapter saved, timed; marks are seconds from the start."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, get_cosine_schedule_with_warmup

    start, marks = time.perf_counter(), {}
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # seeded before LoRA init and dropout, like the service
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(
        task_type="CAUSAL_LM", r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=cfg.peft_target_modules(), bias="none"))
    model.train()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = [tokenize(tokenizer, conv, cfg.max_seq_length) for conv in read_conversations(dataset)]
    examples = [ex for ex in examples if any(label != IGNORE for label in ex[1])]
    accum, lengths = cfg.gradient_accumulation_steps, [len(ids) for ids, _ in examples]
    per_epoch = math.ceil(math.ceil(len(examples) / cfg.batch_size) / accum)
    total = per_epoch * cfg.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(cfg.warmup_ratio * total), total)
    losses: list[float] = []
    for epoch in range(cfg.epochs):
        batches = epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        for group in (batches[i : i + accum] for i in range(0, len(batches), accum)):
            rows = [[examples[i] for i in idx] for idx in group]
            n_targets = max(1, sum(1 for mb in rows for _, lab in mb for t in lab[1:] if t != IGNORE))
            loss = 0.0
            for mb in rows:
                part = micro_batch_loss(model, mb, pad_id) / n_targets
                part.backward()
                loss += part.item()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm or float("inf"))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            marks.setdefault("first_step", time.perf_counter() - start)
    marks["last_step"] = time.perf_counter() - start
    model.save_pretrained(out_dir)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": len(losses), "last_loss": losses[-1], "marks": marks}


# ---- the service: embedded server, SDK client ----------------------------------------------

def run_service(dataset: Path, hyperparameters: dict, cache_dir: Path, data_dir: Path) -> dict:
    """CreateJob -> terminal event on the SDK's watch, timed; server start and upload are not."""
    import tuneloop
    from tuneloop_server.config import ServerSettings
    from tuneloop_server.embedded import BackgroundServer

    settings = ServerSettings(address="127.0.0.1:0", data_dir=data_dir, cache_dir_override=cache_dir)
    with BackgroundServer(settings) as address, tuneloop.Client(address) as client:
        ds = client.datasets.upload(dataset, name="bench")
        assert ds.status == "ready", ds.errors
        start = time.perf_counter()
        job = client.jobs.create(base_model=BASE_MODEL, dataset=ds.id, adapter="bench",
                                 hyperparameters=hyperparameters)
        timeline, last_metrics = [], None
        for ev in client.jobs.watch(job.id):
            timeline.append((round(time.perf_counter() - start, 3), ev.type, ev.state, ev.step, ev.message[:80]))
            if ev.type == "metrics":
                last_metrics = ev
        seconds = time.perf_counter() - start
        job = client.jobs.get(job.id)
    assert job.state == "succeeded", f"job ended {job.state}: {job.error}"
    metric_times = [t for t, kind, *_ in timeline if kind == "metrics"]
    marks = {"first_step": metric_times[0], "last_step": metric_times[-1]}
    return {"seconds": seconds, "steps": last_metrics.total_steps, "steps_run": last_metrics.step,
            "last_loss": last_metrics.metrics["loss"], "marks": marks, "timeline": timeline}


# ---- orchestration and reporting -----------------------------------------------------------

def load_inputs(args: argparse.Namespace) -> tuple[Path, dict]:
    hyperparameters: dict = {}
    dataset = args.dataset
    try:
        from tuneloop import samples

        hyperparameters = dict(samples.SAMPLE_HYPERPARAMETERS)
        dataset = dataset or Path(samples.train_path())
    except (ImportError, AttributeError):  # an SDK without the sample dataset
        if dataset is None:
            sys.exit("tuneloop.samples is not available here: pass --dataset PATH")
    if args.epochs is not None:
        hyperparameters["epochs"] = args.epochs
    return dataset, hyperparameters


def warm_up(base_dir: Path) -> None:
    """Imports and the page cache warm for both sides, so neither pays first-touch costs."""
    from peft import get_peft_model  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoTokenizer.from_pretrained(base_dir)
    AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)  # dropped at once
    gc.collect()


def measure(args: argparse.Namespace, dataset: Path, hyperparameters: dict, cfg, base_dir: Path) -> dict:
    runs: dict[str, list[dict]] = {"baseline": [], "service": []}
    work = ROOT / "bench" / "out"
    for i in range(args.repeats):
        # Alternate the order so drift in machine load does not always favour one side.
        for side in ("baseline", "service") if i % 2 == 0 else ("service", "baseline"):
            with tempfile.TemporaryDirectory(dir=work, prefix=f"{side}-") as tmp:
                if side == "baseline":
                    result = run_baseline(base_dir, dataset, cfg, Path(tmp) / "adapter")
                else:
                    result = run_service(dataset, hyperparameters, args.cache_dir, Path(tmp))
            gc.collect()
            print(f"repeat {i + 1}/{args.repeats} {side}: {result['seconds']:.1f} s, "
                  f"{result['steps']} steps, first step at {result['marks']['first_step']:.1f} s", flush=True)
            runs[side].append(result)
    for b, s in zip(runs["baseline"], runs["service"]):
        assert s["steps"] == s["steps_run"] == b["steps"], f"steps differ: service {s}, baseline {b}"
    return runs


def summarize(runs: dict, dataset: Path, hyperparameters: dict, cfg, argv: list[str]) -> dict:
    def median(side: str, pick) -> float:
        return statistics.median(pick(r) for r in runs[side])

    base, svc = median("baseline", lambda r: r["seconds"]), median("service", lambda r: r["seconds"])
    import peft
    import transformers

    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
                   f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, "
                   f"peft {peft.__version__}, load average {os.getloadavg()[0]:.1f} at the end",
        "dataset": f"{_rel(dataset)} ({len(read_conversations(dataset))} examples)",
        "hyperparameters": hyperparameters, "steps": runs["baseline"][0]["steps"],
        "batch_size": cfg.batch_size, "repeats": len(runs["baseline"]),
        "baseline_seconds": base, "service_seconds": svc, "ratio": svc / base,
        "first_step_seconds": median("service", lambda r: r["marks"]["first_step"]),
        "phases": {side: {
            "start -> first step": median(side, lambda r: r["marks"]["first_step"]),
            "first -> last step": median(side, lambda r: r["marks"]["last_step"] - r["marks"]["first_step"]),
            "last step -> done": median(side, lambda r: r["seconds"] - r["marks"]["last_step"]),
        } for side in runs},
        "command": "PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_service_overhead.py "
                   + shlex.join(argv),
        "runs": runs,
    }


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def render_section(s: dict, raw_file: Path) -> str:
    def ok(good: bool) -> str:
        return "yes" if good else "**no**"

    ph = s["phases"]
    lines = [
        SECTION, "",
        "Wall time of a LoRA fine-tune through the service (CreateJob -> SUCCEEDED event on the SDK's "
        "watch; the adapter is loaded for serving by then) against the same optimizer steps in one "
        "transformers + peft script (model load -> adapter saved), same process, same data, "
        "hyperparameters, seed and torch threads.", "",
        f"- date: {s['date']}", f"- machine: {s['machine']}",
        f"- dataset: {s['dataset']}; hyperparameters {json.dumps(s['hyperparameters'])}",
        f"- optimizer steps: {s['steps']} (batch size {s['batch_size']}); repeats: {s['repeats']} "
        "(medians)", "",
        "| measure | seconds | target | met |", "|---|---:|---:|:---:|",
        f"| direct transformers + peft | {s['baseline_seconds']:.1f} | | |",
        f"| through the service | {s['service_seconds']:.1f} | | |",
        f"| ratio service / direct | {s['ratio']:.3f}x | <= {RATIO_TARGET:.2f}x | {ok(s['ratio'] <= RATIO_TARGET)} |",
        f"| CreateJob -> first step event | {s['first_step_seconds']:.1f} | < {FIRST_STEP_TARGET:.0f} | "
        f"{ok(s['first_step_seconds'] < FIRST_STEP_TARGET)} |", "",
        "| phase (seconds) | direct | service |", "|---|---:|---:|",
        *[f"| {name} | {ph['baseline'][name]:.1f} | {ph['service'][name]:.1f} |" for name in ph["baseline"]],
        "", f"Reproduce from the repository root: `{s['command']}`",
        f"(raw numbers and the service's event timeline: `{_rel(raw_file)}`, not committed).", "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section (up to the next `## `), keeping other benchmarks' sections."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        rest = text[end + 1 :] if end >= 0 else ""
        text = text[:start] + section.rstrip("\n") + ("\n\n" + rest if rest else "")
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from tuneloop_worker import base_models
    from tuneloop_worker.training.config import parse_config

    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    args.cache_dir = (args.cache_dir or Path(os.environ.get("TUNELOOP_CACHE_DIR") or out_dir / "cache")).resolve()
    dataset, hyperparameters = load_inputs(args)
    cfg = parse_config(hyperparameters)  # the defaults the service fills in, for the baseline
    base_dir = base_models.materialize(BASE_MODEL, args.cache_dir)  # converted once, never timed
    warm_up(base_dir)
    summary = summarize(measure(args, dataset, hyperparameters, cfg, base_dir), dataset,
                        hyperparameters, cfg, argv)
    raw_file = out_dir / f"service_overhead-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    raw_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    section = render_section(summary, raw_file)
    write_section(args.out, section)
    print("\n" + section)


if __name__ == "__main__":
    main()
