"""`tuneloop generate`: one chat turn against an adapter or a base model."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..types import Usage
from ._common import err_console, open_client


def _footer(request_id: str, model: str, usage: Usage | None, finish_reason: str) -> None:
    # On stderr so that stdout holds only the generated text; the request id is what
    # `feedback submit` needs.
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens, " if usage else ""
    err_console.print(f"[dim]model {model}, {tokens}finish {finish_reason or '-'}, "
                      f"request_id {request_id}[/dim]")


def generate(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    model: Annotated[str, typer.Option(help="Adapter name, name@vN, or base model.")],
    system: Annotated[str | None, typer.Option(help="Optional system message.")] = None,
    max_tokens: Annotated[int, typer.Option()] = 256,
    temperature: Annotated[float, typer.Option()] = 0.0,
    seed: Annotated[int | None, typer.Option()] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print tokens as they come.")] = False,
) -> None:
    """Generate a reply to PROMPT."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    kwargs = dict(model=model, messages=messages, max_tokens=max_tokens,
                  temperature=temperature, seed=seed)
    with open_client(ctx) as client:
        if not stream:
            out = client.inference.generate(**kwargs)
            sys.stdout.write(out.text + "\n")
            _footer(out.request_id, out.model, out.usage, out.finish_reason)
            return
        last = None
        for last in client.inference.stream(**kwargs):
            sys.stdout.write(last.text)
            sys.stdout.flush()
        sys.stdout.write("\n")
        if last is not None:
            _footer(last.request_id, last.model, last.usage, last.finish_reason)
