"""`client.inference`: chat completions from a trained adapter or a base model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Completion, CompletionChunk

Messages = Sequence[Mapping[str, str]]


def _request(model: str, messages: Messages, max_tokens: int, temperature: float,
             top_p: float | None, seed: int | None) -> Any:
    return conv.generate_request(
        model=model, messages=messages, max_tokens=max_tokens, temperature=temperature,
        top_p=top_p, seed=seed,
    )


class Inference:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.inference

    def generate(self, *, model: str, messages: Messages, max_tokens: int = 256,
                 temperature: float = 0.0, top_p: float | None = None,
                 seed: int | None = None) -> Completion:
        """`model` is an adapter name (latest version), "name@vN", or a base model name.
        `messages` is a list of {"role", "content"} dicts, checked before sending."""
        req = _request(model, messages, max_tokens, temperature, top_p, seed)
        return conv.completion(self._t.call(self._stub.Generate, req))

    def stream(self, *, model: str, messages: Messages, max_tokens: int = 256,
               temperature: float = 0.0, top_p: float | None = None,
               seed: int | None = None) -> Iterator[CompletionChunk]:
        """Like `generate`, as chunks while tokens are produced; the last chunk carries
        finish_reason and usage. Retried on UNAVAILABLE only before the first chunk, since a
        re-opened stream would repeat text. Messages are checked at once, not on iteration."""
        req = _request(model, messages, max_tokens, temperature, top_p, seed)
        return self._chunks(req)

    def _chunks(self, req: Any) -> Iterator[CompletionChunk]:
        for msg in self._t.stream(self._stub.StreamGenerate, lambda: req, resumable=False):
            yield conv.completion_chunk(msg)


class AsyncInference:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.inference

    async def generate(self, *, model: str, messages: Messages, max_tokens: int = 256,
                       temperature: float = 0.0, top_p: float | None = None,
                       seed: int | None = None) -> Completion:
        """See `Inference.generate`."""
        req = _request(model, messages, max_tokens, temperature, top_p, seed)
        return conv.completion(await self._t.call(self._stub.Generate, req))

    def stream(self, *, model: str, messages: Messages, max_tokens: int = 256,
               temperature: float = 0.0, top_p: float | None = None,
               seed: int | None = None) -> AsyncIterator[CompletionChunk]:
        """See `Inference.stream`; use with `async for`."""
        req = _request(model, messages, max_tokens, temperature, top_p, seed)
        return self._chunks(req)

    async def _chunks(self, req: Any) -> AsyncIterator[CompletionChunk]:
        async for msg in self._t.stream(self._stub.StreamGenerate, lambda: req, resumable=False):
            yield conv.completion_chunk(msg)
