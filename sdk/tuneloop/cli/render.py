"""Live rendering of a job: reusable by any command that follows a job (watch, create --watch,
demo). `follow_job` blocks until the job is terminal and returns it; it never raises for a
failed job, so the caller decides the exit code."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from .. import Client, Job, JobEvent, JobFailedError
from ._common import metrics_text, styled


class _EtaColumn(ProgressColumn):
    """The trainer's own estimate (metrics["eta_seconds"]) when it sends one, else rich's."""

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        if eta is None:
            eta = task.time_remaining
        if eta is None or task.finished:
            return Text("eta -", style="progress.remaining")
        return Text(f"eta {timedelta(seconds=int(eta))}", style="progress.remaining")


def _state_line(ev: JobEvent) -> str:
    """The state, colored, then the server's note; servers often start the note with the state
    itself ("running on worker w1"), which then is not repeated."""
    message = ev.message.strip()
    if message.lower().startswith(ev.state):
        return f"{styled(ev.state)}{escape(message[len(ev.state):])}"
    return f"{styled(ev.state)}: {escape(message)}" if message else styled(ev.state)


class JobView:
    """Callable for `jobs.wait(on_event=...)`: moves the bar, prints what deserves a line."""

    def __init__(self, progress: Progress, job_id: str) -> None:
        self.progress = progress
        self.task = progress.add_task(styled("waiting"), total=None, loss="-", eta=None)
        self.job_id = job_id

    def _print(self, text: str) -> None:
        self.progress.console.print(text)

    def __call__(self, ev: JobEvent) -> None:
        if ev.total_steps:
            self.progress.update(self.task, total=ev.total_steps, completed=ev.step)
        if ev.type == "state":
            self.progress.update(self.task, description=styled(ev.state))
            self._print(f"job {escape(self.job_id)}: {_state_line(ev)}")
        elif ev.type == "metrics":
            loss = ev.metrics.get("loss")
            self.progress.update(self.task, loss=f"{loss:.4f}" if loss is not None else "-",
                                 eta=ev.metrics.get("eta_seconds"))
        elif ev.type == "eval":
            self._print(f"[blue]eval[/blue] step {ev.step}: {metrics_text(ev.metrics)}")
        elif ev.type == "checkpoint":
            self._print(f"[dim]checkpoint at step {ev.step} {escape(ev.message)}[/dim]")
        elif ev.type == "adapter_ready":
            self._print(f"[green]{escape(ev.message or 'adapter ready')}[/green]")
        elif ev.message:  # "log" and any type newer than this SDK
            self._print(f"[dim]{escape(ev.message)}[/dim]")


def follow_job(client: Client, job_id: str, console: Console, *,
               timeout: float | None = None) -> Job:
    """Show a progress bar (step/total_steps, loss, ETA) and the job's log lines until the
    job is terminal; return the terminal Job, whatever its state."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]}"), _EtaColumn())
    with Progress(*columns, console=console) as progress:
        view = JobView(progress, job_id)
        try:
            job = client.jobs.wait(job_id, timeout=timeout, on_event=view)
        except JobFailedError as exc:
            job = exc.job
        progress.update(view.task, description=styled(job.state))
    return job


def print_outcome(job: Job, console: Console) -> None:
    """One closing line: what the job produced, or why it did not."""
    if job.state == "succeeded":
        console.print(f"[green]job {job.id} succeeded[/green]: adapter "
                      f"[bold]{escape(job.adapter)}@v{job.adapter_version}[/bold] is ready")
    else:
        reason = f": {escape(job.error)}" if job.error else ""
        console.print(f"job {job.id} ended {styled(job.state)}{reason}")
