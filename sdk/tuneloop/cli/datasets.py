"""`tuneloop datasets ...`"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ..types import Dataset
from ._common import console, err_console, open_client, styled, when

app = typer.Typer(help="Upload and inspect training datasets (JSON Lines).", no_args_is_help=True)


def _errors_table(ds: Dataset) -> Table:
    table = Table(title=f"{len(ds.errors)} problem(s) in {ds.name}", title_justify="left")
    table.add_column("line", justify="right", style="bold")
    table.add_column("error", overflow="fold")
    for err in ds.errors:
        table.add_row(str(err.line) if err.line else "file", err.message)
    return table


def _show(ds: Dataset) -> None:
    console.print(f"dataset [bold]{ds.id}[/bold] ({ds.name}): {styled(ds.status)}")
    console.print(f"  examples: {ds.num_examples}  format: {ds.format or '-'}  "
                  f"size: {ds.size_bytes} B  sha256: {ds.sha256[:16]}...")
    if ds.errors:
        console.print(_errors_table(ds))


@app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file stem).")] = None,
) -> None:
    """Upload a JSON Lines file; exits 1 if the server finds it invalid."""
    columns = (TextColumn("uploading {task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with open_client(ctx) as client:
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task(file.name, total=file.stat().st_size)
            ds = client.datasets.upload(
                file, name=name, progress=lambda sent, total: bar.update(task, completed=sent)
            )
    _show(ds)
    if ds.status == "invalid":
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List datasets."""
    with open_client(ctx) as client:
        items = client.datasets.list()
    table = Table("id", "name", "status", "examples", "format", "created")
    for ds in items:
        table.add_row(ds.id, ds.name, styled(ds.status), str(ds.num_examples), ds.format or "-",
                      when(ds.created_at))
    console.print(table)


@app.command()
def get(ctx: typer.Context, dataset_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Show one dataset, with its errors if it is invalid."""
    with open_client(ctx) as client:
        _show(client.datasets.get(dataset_id))


@app.command()
def delete(
    ctx: typer.Context,
    dataset_id: Annotated[str, typer.Argument(metavar="ID")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset."""
    if not yes:
        typer.confirm(f"delete dataset {dataset_id}?", abort=True)
    with open_client(ctx) as client:
        client.datasets.delete(dataset_id)
    console.print(f"deleted dataset {dataset_id}")
