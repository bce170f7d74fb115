"""`tuneloop demo`: the whole loop on one machine, in a few minutes on a laptop CPU.

Starts the embedded service on a free port, uploads the sample dataset of made-up facts,
asks the base model questions it cannot know, fine-tunes an adapter while showing live
progress, asks again, and files a correction. Exits non-zero if the adapter did not learn.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import Client, samples
from ._common import console, fail
from .render import follow_job


def _ask_all(client: Client, model: str) -> list[tuple[str, str, bool]]:
    """Ask every question concurrently; the serving engine answers them in shared batches."""
    items = samples.eval_questions()

    def ask(item: dict[str, str]) -> str:
        return client.inference.generate(
            model=model, messages=[{"role": "user", "content": item["question"]}],
            max_tokens=48, temperature=0.0).text.strip()

    with ThreadPoolExecutor(len(items)) as pool:
        answers = list(pool.map(ask, items))
    return [(item["question"], answer, item["expect"].lower() in answer.lower())
            for item, answer in zip(items, answers)]


def _show(title: str, rows: list[tuple[str, str, bool]]) -> int:
    table = Table(title=title, show_lines=False)
    table.add_column("question")
    table.add_column("answer")
    table.add_column("knows it", justify="center")
    for question, answer, right in rows:
        table.add_row(question, answer, "[green]yes[/green]" if right else "[red]no[/red]")
    console.print(table)
    return sum(right for *_, right in rows)


def demo(
    data_dir: Annotated[Optional[Path], typer.Option(
        help="State for this demo (default: a temporary folder).")] = None,
) -> None:
    """Fine-tune smollm2-135m on made-up facts and show it learned them (CPU, a few minutes)."""
    try:
        from tuneloop_server.config import ServerSettings
        from tuneloop_server.embedded import BackgroundServer
    except ImportError:
        raise fail("the demo needs the server and worker extras: pip install 'tuneloop[all]'") from None
    with tempfile.TemporaryDirectory(prefix="tuneloop-demo-") as tmp:
        # State is throwaway, but the converted base model is cached where `tuneloop server`
        # keeps it, so a second demo (or the server) starts in a second instead of ~20 s.
        settings = ServerSettings(address="127.0.0.1:0", data_dir=data_dir or Path(tmp),
                                  cache_dir_override=ServerSettings().cache_dir)
        console.print("[bold]1.[/bold] starting the tuneloop service (SQLite, local files, "
                      "in-process worker and serving engine)")
        with BackgroundServer(settings) as server, server.client() as client:
            console.print(f"   listening on {server.address} (API key in {settings.api_key_file})")
            _run(client)


def _run(client: Client) -> None:
    console.print("[bold]2.[/bold] uploading the sample dataset")
    dataset = client.datasets.upload(samples.train_path(), name="demo-facts")
    console.print(f"   {dataset.id}: {dataset.num_examples} examples, {dataset.status}")

    console.print("[bold]3.[/bold] asking the base model (it has never heard of these facts)")
    base_right = _show("base model smollm2-135m", _ask_all(client, "smollm2-135m"))

    console.print("[bold]4.[/bold] fine-tuning a LoRA adapter on CPU")
    job = client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="demo-facts",
                             hyperparameters=samples.SAMPLE_HYPERPARAMETERS)
    job = follow_job(client, job.id, console)
    if job.state != "succeeded":
        raise fail(f"the fine-tune ended {job.state}: {job.error}")

    console.print("[bold]5.[/bold] asking the new adapter the same questions, phrased "
                  "differently from the training data")
    rows = _ask_all(client, "demo-facts")
    tuned_right = _show(f"adapter demo-facts@v{job.adapter_version}", rows)

    console.print("[bold]6.[/bold] a reviewer corrects one answer; the next job can train on it "
                  "with include_feedback=True")
    out = client.inference.generate(model="demo-facts", messages=[
        {"role": "user", "content": rows[0][0]}], max_tokens=48)
    fix = client.feedback.submit(request_id=out.request_id, correction=out.text.strip(),
                                 note="confirmed by a reviewer in the demo")
    console.print(f"   feedback {fix.id} stored against request {out.request_id}")

    total = len(rows)
    console.print(f"\nbase model knew {base_right}/{total}; adapter knows {tuned_right}/{total}")
    if tuned_right <= base_right or tuned_right < total // 2 + 1:
        raise fail("the adapter did not learn the facts well enough this time")
    console.print("[bold green]demo passed[/bold green]")
