"""`tuneloop feedback ...`"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._common import console, open_client, when

app = typer.Typer(help="Correct logged outputs; corrections train the next version.",
                  no_args_is_help=True)


@app.command()
def submit(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Option(help="request_id printed by `tuneloop generate`.")],
    correction: Annotated[str, typer.Option(help="The answer the model should have given.")],
    rating: Annotated[int | None, typer.Option(min=1, max=5, help="1..5")] = None,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Submit a correction for one logged output."""
    with open_client(ctx) as client:
        fb = client.feedback.submit(request_id=request_id, correction=correction,
                                    rating=rating, note=note)
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
