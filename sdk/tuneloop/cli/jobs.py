"""`tuneloop jobs ...`"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .. import _convert as conv
from .._errors import InvalidArgumentError
from ..types import Job
from ._common import console, metrics_text, open_client, progress_text, styled, when
from .render import follow_job, print_outcome

app = typer.Typer(help="Create, follow and manage fine-tuning jobs.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(metavar="ID")]


def _hyperparameters(named: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Dedicated options first, then `--hp key=value` (which wins, being the more explicit)."""
    hp = {key: value for key, value in named.items() if value is not None}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidArgumentError(f"--hp expects key=value, got {item!r}")
        hp[key.strip()] = conv.parse_hyperparameter(key.strip(), text.strip())
    return hp


def _show(job: Job) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    version = f"@v{job.adapter_version}" if job.adapter_version else ""
    rows = [
        ("id", job.id), ("state", styled(job.state) + _queue_note(job)), ("base model", escape(job.base_model)),
        ("dataset", job.dataset_id), ("validation", job.validation_dataset_id or "-"),
        ("adapter", escape(job.adapter + version)), ("method", job.method),
        ("hyperparameters", escape(", ".join(f"{k}={v}" for k, v in job.hyperparameters.items()))
         or "defaults"),
        ("include feedback", str(job.include_feedback)),
        ("progress", progress_text(job.step, job.total_steps)),
        ("metrics", metrics_text(job.metrics)), ("attempt", str(job.attempt)),
        ("created", when(job.created_at)), ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
    ]
    if job.cancel_requested and not job.done:
        rows.append(("cancel", "requested"))
    if job.eval_scores:
        rows.append(("eval scores", metrics_text(job.eval_scores)))
    if job.promotion_note:
        verdict = "[green]promoted[/green]" if job.promoted else "[yellow]not promoted[/yellow]"
        rows.append(("promotion", f"{verdict}: {escape(job.promotion_note)}"))
    if job.error:
        rows.append(("error", f"[red]{escape(job.error)}[/red]"))
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def _finish(client: Any, job_id: str) -> None:
    try:
        job = follow_job(client, job_id, console)
    except KeyboardInterrupt:
        console.print(f"stopped following job {job_id}; it keeps running "
                      f"(`tuneloop jobs cancel {job_id}` stops it)")
        raise typer.Exit(130) from None
    print_outcome(job, console)
    if job.state != "succeeded":
        raise typer.Exit(1)


@app.command()
def create(
    ctx: typer.Context,
    base_model: Annotated[str, typer.Option(help="Base model name, HF id or local dir.")],
    dataset: Annotated[str, typer.Option(help="Training dataset id.")],
    adapter: Annotated[str, typer.Option(help="Adapter name the result is served under.")],
    validation_dataset: Annotated[str | None, typer.Option(help="Validation dataset id.")] = None,
    method: Annotated[str, typer.Option(help="lora | qlora (qlora needs CUDA).")] = "lora",
    epochs: Annotated[int | None, typer.Option()] = None,
    learning_rate: Annotated[float | None, typer.Option()] = None,
    lora_rank: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    hp: Annotated[list[str] | None, typer.Option(
        "--hp", help="key=value, repeatable, e.g. --hp lora_alpha=32 "
        "--hp target_modules=q_proj,v_proj")] = None,
    include_feedback: Annotated[bool, typer.Option(
        "--include-feedback", help="Also train on submitted corrections.")] = False,
    eval_dataset: Annotated[str | None, typer.Option(
        help="Eval set the new version must not do worse on than the promoted one.")] = None,
    warm_start: Annotated[bool, typer.Option(
        "--warm-start", help="Start from the promoted version's weights.")] = False,
    feedback_weight: Annotated[int | None, typer.Option(help="Repeat each correction N times.")] = None,
    promotion_threshold: Annotated[float | None, typer.Option(
        help="How much worse than the promoted version still counts as no worse.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Reuse to avoid duplicates.")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Follow the job until it ends.")] = False,
) -> None:
    """Queue a fine-tuning job."""
    named = dict(epochs=epochs, learning_rate=learning_rate, lora_rank=lora_rank,
                 batch_size=batch_size)
    with open_client(ctx) as client:
        job = client.jobs.create(
            base_model=base_model, dataset=dataset, adapter=adapter,
            validation_dataset=validation_dataset, method=method,
            hyperparameters=_hyperparameters(named, hp or []),
            idempotency_key=idempotency_key, include_feedback=include_feedback,
            evaluation={k: v for k, v in dict(
                eval_dataset=eval_dataset, warm_start=warm_start or None,
                feedback_weight=feedback_weight, promotion_threshold=promotion_threshold).items()
                if v is not None},
        )
        console.print(f"created job [bold]{job.id}[/bold] ({styled(job.state)})")
        if watch:
            _finish(client, job.id)
        else:
            console.print(f"follow it with: tuneloop jobs watch {job.id}")


@app.command("watch")
def watch_(ctx: typer.Context, job_id: JobId) -> None:
    """Follow a job live; exits 1 unless it succeeds."""
    with open_client(ctx) as client:
        _finish(client, job_id)


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help=" | ".join(conv.JOB_STATES))] = None,
) -> None:
    """List jobs, optionally only those in one state."""
    with open_client(ctx) as client:
        items = client.jobs.list(state=state)
    table = Table("id", "state", "adapter", "base model", "progress", "created")
    for job in items:
        version = f"@v{job.adapter_version}" if job.adapter_version else ""
        table.add_row(job.id, styled(job.state) + _queue_note(job), escape(job.adapter + version),
                      escape(job.base_model), progress_text(job.step, job.total_steps),
                      when(job.created_at))
    console.print(table)


@app.command()
def get(ctx: typer.Context, job_id: JobId) -> None:
    """Show one job."""
    with open_client(ctx) as client:
        _show(client.jobs.get(job_id))


@app.command()
def cancel(ctx: typer.Context, job_id: JobId) -> None:
    """Cancel a job: queued jobs stop at once, running ones within seconds."""
    with open_client(ctx) as client:
        job = client.jobs.cancel(job_id)
    note = " (cancel requested)" if job.cancel_requested and not job.done else ""
    console.print(f"job {job.id} is {styled(job.state)}{note}")


def _queue_note(job) -> str:
    """' (#2, starts in ~3m)' for a queued job; '' otherwise."""
    if job.state != "queued" or not job.queue_position:
        return ""
    eta = job.estimated_start_seconds
    when = f", starts in ~{eta / 60:.0f}m" if eta >= 90 else (f", starts in ~{eta:.0f}s" if eta else "")
    return f" (#{job.queue_position}{when})"
