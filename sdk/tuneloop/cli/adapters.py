"""`tuneloop adapters ...`"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._common import console, open_client, when

app = typer.Typer(help="Trained adapters and their versions.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List adapters."""
    with open_client(ctx) as client:
        items = client.adapters.list()
    table = Table("name", "base model", "latest", "versions", "created")
    for a in items:
        table.add_row(escape(a.name), escape(a.base_model), f"v{a.latest_version}",
                      str(len(a.versions)), when(a.created_at))
    console.print(table)


@app.command()
def get(ctx: typer.Context, name: str) -> None:
    """Show an adapter's versions and the jobs that produced them."""
    with open_client(ctx) as client:
        a = client.adapters.get(name)
    console.print(f"adapter [bold]{escape(a.name)}[/bold] on {escape(a.base_model)}, "
                  f"latest v{a.latest_version}")
    table = Table("version", "job", "created")
    for v in a.versions:
        table.add_row(f"v{v.version}", v.job_id, when(v.created_at))
    console.print(table)


@app.command()
def delete(
    ctx: typer.Context,
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete every version of an adapter and unload it from serving."""
    if not yes:
        typer.confirm(f"delete adapter {name} and all its versions?", abort=True)
    with open_client(ctx) as client:
        client.adapters.delete(name)
    console.print(f"deleted adapter {escape(name)}")
