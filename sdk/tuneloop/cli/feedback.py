"""`tuneloop feedback ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._common import console, fail, open_client, when

app = typer.Typer(help="Correct logged outputs; corrections train the next version.",
                  no_args_is_help=True)


@app.command()
def submit(
    ctx: typer.Context,
    correction: Annotated[str, typer.Option(help="The answer the model should have given.")],
    request_id: Annotated[str, typer.Option(help="request_id printed by `tuneloop generate`.")] = "",
    prompt: Annotated[str, typer.Option(help="Or: the question, for an output not logged.")] = "",
    adapter: Annotated[str, typer.Option(help="With --prompt: the adapter to correct.")] = "",
    rating: Annotated[int | None, typer.Option(min=1, max=5, help="1..5")] = None,
    note: Annotated[str, typer.Option()] = "",
    scrub: Annotated[bool, typer.Option(
        "--scrub", help="Replace e-mails, phone and card numbers before storing.")] = False,
) -> None:
    """Submit a correction for one logged output (or for an explicit prompt)."""
    messages = [{"role": "user", "content": prompt}] if prompt else None
    with open_client(ctx) as client:
        fb = client.feedback.submit(request_id=request_id, correction=correction, rating=rating,
                                    note=note, messages=messages, adapter=adapter or None,
                                    scrub_personal_data=scrub)
    target = f"{fb.adapter}@v{fb.adapter_version}" if fb.adapter else "base model"
    console.print(f"saved feedback [bold]{fb.id}[/bold] for {escape(target)}")


@app.command("list")
def list_(
    ctx: typer.Context,
    adapter: Annotated[str | None, typer.Option(help="Only this adapter's feedback.")] = None,
) -> None:
    """List submitted corrections."""
    with open_client(ctx) as client:
        items = client.feedback.list(adapter=adapter)
    table = Table("id", "adapter", "output", "correction", "rating", "created")
    for fb in items:
        target = f"{fb.adapter}@v{fb.adapter_version}" if fb.adapter else "-"
        table.add_row(fb.id, escape(target), escape(fb.output), escape(fb.correction),
                      str(fb.rating) if fb.rating is not None else "-", when(fb.created_at))
    console.print(table)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL file.")],
    adapter: Annotated[str, typer.Option(help="The adapter the corrections train.")],
    scrub: Annotated[bool, typer.Option(
        "--scrub", help="Replace e-mails, phone and card numbers before storing.")] = False,
) -> None:
    """Import corrections in bulk: CSV (prompt, correction[, rating, note]) or JSONL."""
    with open_client(ctx) as client:
        result = client.feedback.import_file(path, adapter=adapter, scrub_personal_data=scrub)
    if result.errors:
        table = Table("line", "problem")
        for e in result.errors:
            table.add_row(str(e.line), escape(e.message))
        console.print(table)
        raise fail(f"{len(result.errors)} problem(s) in {path.name}; nothing was imported")
    console.print(f"imported {result.imported} correction(s) for {escape(adapter)}")


@app.command()
def export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(dir_okay=False, help="JSONL file to write.")],
    adapter: Annotated[str | None, typer.Option(help="Only this adapter's corrections.")] = None,
) -> None:
    """Write corrections as JSONL (the format `feedback import` reads)."""
    with open_client(ctx) as client:
        count = client.feedback.export(path, adapter=adapter)
    console.print(f"wrote {count} correction(s) to {escape(str(path))}")
