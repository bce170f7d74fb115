"""Work items passed from the event loop to the engine's scheduler thread, and the way back.

The scheduler thread never touches asyncio objects directly: every reply is scheduled onto
the requesting coroutine's own loop with `call_soon_threadsafe`. Binding to the caller's loop
(not the engine's) lets one engine serve callers from any loop.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from .backend import GenerationRequest, GenerationResult

# (text delta, final result, error): exactly one of result/error is set on the last event.
Event = tuple["str | None", "GenerationResult | None", "BaseException | None"]


class Job:
    """A queued request, as seen by the scheduler thread (implements decoding.RowSink)."""

    def __init__(
        self, request: GenerationRequest, loop: asyncio.AbstractEventLoop, on_event: Callable
    ) -> None:
        self.request = request
        self.cancelled = False  # set from the loop when the caller stops listening
        self._loop = loop
        self._on_event = on_event

    def _post(self, *event) -> None:
        try:
            self._loop.call_soon_threadsafe(self._on_event, *event)
        except RuntimeError:  # the caller's loop is closed: nobody will read this row
            self.cancelled = True

    def emit(self, text: str) -> None:
        self._post(text, None, None)

    def finish(self, text: str, result: GenerationResult) -> None:
        self._post(text, result, None)

    def fail(self, exc: BaseException) -> None:
        self._post(None, None, exc)


class Command:
    """Model surgery (adapter load/unload) that must run between batches, in queue order."""

    def __init__(self, fn: Callable[[], None], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.future: asyncio.Future = loop.create_future()
        self._loop = loop

    def run(self, before_reply: Callable[[], None]) -> None:
        try:
            self.fn()
            error = None
        except BaseException as exc:  # reported to the awaiting caller, never kills the thread
            error = exc
        before_reply()  # e.g. stats, so the caller sees them current once its await returns
        if error is not None:
            self._post(set_exception, error)
        else:
            self._post(set_result, None)

    def fail(self, exc: BaseException) -> None:
        self._post(set_exception, exc)

    def _post(self, setter, value) -> None:
        try:
            self._loop.call_soon_threadsafe(setter, self.future, value)
        except RuntimeError:
            pass  # loop closed: the caller is gone


def set_result(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def set_exception(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
