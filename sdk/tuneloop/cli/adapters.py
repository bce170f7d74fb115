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
    table = Table("name", "base model", "serving", "latest", "versions", "created")
    for a in items:
        table.add_row(escape(a.name), escape(a.base_model), f"v{a.promoted_version}",
                      f"v{a.latest_version}", str(len(a.versions)), when(a.created_at))
    console.print(table)


@app.command()
def get(ctx: typer.Context, name: str) -> None:
    """Show an adapter's versions and the jobs that produced them."""
    with open_client(ctx) as client:
        a = client.adapters.get(name)
    console.print(f"adapter [bold]{escape(a.name)}[/bold] on {escape(a.base_model)}: serving "
                  f"v{a.promoted_version}, latest v{a.latest_version}")
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


@app.command()
def promote(ctx: typer.Context, name: str, version: int) -> None:
    """Serve VERSION under plain NAME from now on (roll back or forward)."""
    with open_client(ctx) as client:
        a = client.adapters.promote(name, version)
    console.print(f"{escape(a.name)} now serves v{a.promoted_version}")


@app.command()
def policy(
    ctx: typer.Context,
    name: str,
    dataset: Annotated[str, typer.Option(help="Dataset id each retrain trains on, plus corrections.")],
    after_corrections: Annotated[int, typer.Option(help="Retrain after N new corrections.")] = 0,
    every_seconds: Annotated[float, typer.Option(help="Or on this schedule.")] = 0.0,
    disable: Annotated[bool, typer.Option("--disable")] = False,
) -> None:
    """Set the adapter's retrain policy."""
    with open_client(ctx) as client:
        p = client.adapters.set_retrain_policy(name, dataset=dataset, after_corrections=after_corrections,
                                               every_seconds=every_seconds, enabled=not disable)
    state = "off" if not p.enabled else ", ".join(
        part for part in (f"after {p.after_corrections} corrections" if p.after_corrections else "",
                          f"every {p.every_seconds:g} s" if p.every_seconds else "") if part)
    console.print(f"retrain policy of {escape(name)}: {state}")
