"""The seam between the control plane's inference service and whatever serves the models.

Shaped like vLLM's ``EngineClient``: an async object that holds one base model and many LoRA
adapters, keyed by strings the control plane chooses (``support@v3``). The in-process PEFT
engine implements it for one machine; a vLLM-backed implementation follows the same Protocol.
Nothing here imports torch, so the control plane can type against it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[dict[str, str]]  # chat messages: {"role": ..., "content": ...}
    max_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float | None = None
    seed: int | None = None
    adapter: str | None = None  # key of a loaded adapter; None = the base model

    def validate(self) -> None:
        """Raise ValueError naming the bad field; backends call this before queueing work."""
        if not isinstance(self.messages, list) or not self.messages:
            raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
        for i, message in enumerate(self.messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise ValueError(f"messages[{i}] needs a string 'role'")
            if not isinstance(message.get("content"), str):
                raise ValueError(f"messages[{i}] needs a string 'content'")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int  # counts the end-of-sequence token when the model emitted one
    finish_reason: FinishReason


@dataclass(frozen=True)
class StreamDelta:
    text: str
    result: GenerationResult | None = field(default=None)  # set on the last delta only


class AdapterLoadError(Exception):
    """The adapter could not be loaded; the message says what is wrong with it."""


class BackendUnavailable(Exception):
    """The backend cannot take requests right now (e.g. its server is restarting); retry."""


class UnknownAdapterError(KeyError):
    """No adapter is loaded under the requested key."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else "unknown adapter"


@runtime_checkable
class ServingBackend(Protocol):
    base_model: str

    async def start(self) -> None:
        """Load the base model (off the event loop)."""

    async def load_adapter(self, key: str, path: Path) -> None:
        """Load or replace the adapter under `key`; raises AdapterLoadError."""

    async def unload_adapter(self, key: str) -> None:
        """Drop the adapter under `key` and free its memory; raises UnknownAdapterError."""

    def has_adapter(self, key: str) -> bool: ...

    async def generate(self, request: GenerationRequest) -> GenerationResult: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        """Text deltas; their concatenation equals generate()'s text, the last one carries the result."""
        ...

    async def close(self) -> None: ...
