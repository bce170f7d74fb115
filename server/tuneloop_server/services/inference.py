"""Inference: resolve `model` to a backend (+ adapter), generate, and log every call."""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

from tuneloop_worker import base_models
from tuneloop_worker.serving.backend import (
    AdapterLoadError,
    BackendUnavailable,
    GenerationRequest,
    GenerationResult,
    ServingBackend,
)

from ..auth.principal import Principal
from ..errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from ..ids import new_id
from ..store import JobStore
from ..store.records import RequestLogRecord
from .naming import parse_model_ref
from .serving import ServingManager

ROLES = ("system", "user", "assistant")
MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class Target:
    """What a `model` string resolved to."""

    label: str  # "support@v2" or the base model name
    base_model: str
    adapter: str | None = None
    version: int = 0
    key: str | None = None  # serving key (the job id) of the adapter version
    object_key: str | None = None


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float
    top_p: float | None
    seed: int | None


@dataclass(frozen=True)
class Generated:
    request_id: str
    target: Target
    result: GenerationResult


class InferenceService:
    def __init__(self, store: JobStore, serving: ServingManager):
        self.store = store
        self.serving = serving

    async def resolve(self, tenant: str, model: str) -> Target:
        """An adapter of `tenant` (another tenant's adapter of that name does not exist here)."""
        if not model:
            raise InvalidArgument("model is required: an adapter name, name@vN, or a base model")
        name, pinned = parse_model_ref(model)
        version = pinned
        if version is None:  # plain name: the promoted version, else the newest
            state = await asyncio.to_thread(self.store.get_adapter_state, tenant, name)
            version = state.promoted_version if state is not None else None
        record = await asyncio.to_thread(self.store.get_adapter_version, tenant, name, version)
        if record is None and pinned is None and version is not None:
            record = await asyncio.to_thread(self.store.get_adapter_version, tenant, name, None)
        if record is not None:
            return Target(f"{record.name}@v{record.version}", record.base_model, record.name,
                          record.version, record.job_id, record.object_key)
        if pinned is not None:
            versions = await asyncio.to_thread(self.store.list_adapter_versions, tenant, name)
            if versions:
                have = ", ".join(f"v{v.version}" for v in versions)
                raise NotFound(f"adapter {name!r} has no version v{pinned} (it has {have})")
        elif base_models.check_base_model(name) is None:
            return Target(name, name)
        raise NotFound(f"model {model!r} is neither a trained adapter nor a known base model")

    async def generate(self, caller: Principal, model: str, messages: list[dict[str, str]],
                       sampling: Sampling) -> Generated:
        target, request = await self._prepare(caller.tenant, model, messages, sampling)
        backend = await self._backend(target)
        with _backend_errors():
            result = await backend.generate(request)
        request_id = await self._log(caller.tenant, target, messages, result)
        return Generated(request_id, target, result)

    async def stream(self, caller: Principal, model: str, messages: list[dict[str, str]],
                     sampling: Sampling) -> AsyncIterator[tuple[str, str, Generated | None]]:
        """Yield (request_id, text delta, None) per chunk, then ("", "", Generated) last."""
        target, request = await self._prepare(caller.tenant, model, messages, sampling)
        backend = await self._backend(target)
        request_id = new_id("req")
        with _backend_errors():
            async for delta in backend.stream(request):
                if delta.text:
                    yield request_id, delta.text, None
                if delta.result is not None:
                    await self._log(caller.tenant, target, messages, delta.result, request_id)
                    yield request_id, "", Generated(request_id, target, delta.result)

    async def _prepare(self, tenant: str, model: str, messages: list[dict[str, str]],
                       sampling: Sampling) -> tuple[Target, GenerationRequest]:
        _check_messages(messages)
        _check_sampling(sampling)
        target = await self.resolve(tenant, model)
        request = GenerationRequest(
            messages=messages, max_tokens=sampling.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=sampling.temperature, top_p=sampling.top_p, seed=sampling.seed,
            adapter=target.key)
        return target, request

    async def _backend(self, target: Target) -> ServingBackend:
        try:
            if target.key is None:
                return await self.serving.backend(target.base_model)
            assert target.object_key is not None
            return await self.serving.ensure_loaded(target.base_model, target.key, target.object_key)
        except AdapterLoadError as exc:
            raise FailedPrecondition(f"adapter {target.label} cannot be served: {exc}") from None
        except BackendUnavailable as exc:
            raise Unavailable(str(exc)) from None

    async def _log(self, tenant: str, target: Target, messages: list[dict[str, str]],
                   result: GenerationResult, request_id: str | None = None) -> str:
        record = RequestLogRecord(
            tenant_id=tenant, id=request_id or new_id("req"), model=target.label, adapter=target.adapter,
            adapter_version=target.version, base_model=target.base_model, messages=messages,
            output=result.text, prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens, created_at=time.time())
        await asyncio.to_thread(self.store.log_request, record)
        return record.id


@contextmanager
def _backend_errors() -> Iterator[None]:
    """A restarting backend is UNAVAILABLE (clients retry); a request it refuses is the caller's."""
    try:
        yield
    except BackendUnavailable as exc:
        raise Unavailable(str(exc)) from None
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def _check_messages(messages: list[dict[str, str]]) -> None:
    if not messages:
        raise InvalidArgument("messages is empty: send at least one user message")
    for i, message in enumerate(messages):
        if message.get("role") not in ROLES:
            raise InvalidArgument(
                f"messages[{i}].role is {message.get('role')!r}; expected one of {', '.join(ROLES)}")
    if messages[-1]["role"] == "assistant":
        raise InvalidArgument("the last message is from the assistant; end with a user message")


def _check_sampling(sampling: Sampling) -> None:
    if not 0 <= sampling.max_tokens <= MAX_TOKENS_LIMIT:
        raise InvalidArgument(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT} (0 = default)")
    if not 0.0 <= sampling.temperature <= 2.0:
        raise InvalidArgument("temperature must be between 0 (greedy) and 2")
    if sampling.top_p is not None and not 0.0 < sampling.top_p <= 1.0:
        raise InvalidArgument("top_p must be in (0, 1]")
