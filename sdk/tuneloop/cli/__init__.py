"""The `tuneloop` command line: a thin shell over `tuneloop.Client`."""

from __future__ import annotations

from typing import Annotated

import typer

from . import adapters, admin, datasets, feedback, jobs, local_commands
from ._common import Settings
from .generate import generate

app = typer.Typer(
    name="tuneloop",
    help="Self-hosted LoRA fine-tuning: upload data, train adapters, serve and correct them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Option(
        envvar="TUNELOOP_ADDRESS", help="Server host:port (default localhost:50051).")] = None,
    api_key: Annotated[str | None, typer.Option(
        envvar="TUNELOOP_API_KEY", help="API key sent as a bearer token.")] = None,
) -> None:
    ctx.obj = Settings(address=address, api_key=api_key)


app.add_typer(datasets.app, name="datasets")
app.add_typer(jobs.app, name="jobs")
app.add_typer(adapters.app, name="adapters")
app.add_typer(feedback.app, name="feedback")
app.add_typer(admin.app, name="admin")
app.command()(generate)
local_commands.register(app)


def main() -> None:
    app()
