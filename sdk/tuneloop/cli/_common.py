"""What every CLI command shares: the consoles, the client factory, error reporting, formats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape

from .. import Client, TuneloopError, UnavailableError

# Results go to stdout, diagnostics to stderr, so `tuneloop ... | jq`-style piping stays clean.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Settings:
    """Global options; None falls back to the env variables, exactly as `Client` does."""

    address: str | None = None
    api_key: str | None = None


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] [red]{escape(message)}[/red]")
    return typer.Exit(code)


@contextmanager
def open_client(ctx: typer.Context, *, api_key: str | None = None) -> Iterator[Client]:
    """A Client for one command. A TuneloopError becomes its message in red and exit code 1,
    never a traceback: the server's message already says what to fix. `api_key` overrides
    the global option (the admin commands pass the admin key)."""
    settings = ctx.find_root().obj if isinstance(ctx.find_root().obj, Settings) else Settings()
    client = Client(settings.address, api_key=api_key or settings.api_key)
    try:
        yield client
    except UnavailableError as exc:
        raise fail(f"{exc.message} (is a tuneloop server running at {client.address}?)") from None
    except TuneloopError as exc:
        raise fail(exc.message) from None
    except KeyboardInterrupt:
        raise fail("interrupted", code=130) from None
    finally:
        client.close()


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def metrics_text(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())) or "-"


def progress_text(step: int, total: int) -> str:
    return f"{step}/{total}" if total else (str(step) if step else "-")


STATE_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "ready": "green",
    "invalid": "red",
    "processing": "yellow",
}


def styled(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{escape(state)}[/]"
