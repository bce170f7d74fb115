"""ServingBackend on a vLLM OpenAI-compatible server with runtime LoRA loading.

Adapters are registered under the control plane's keys with `/v1/load_lora_adapter` and
named in `model=` of `/v1/chat/completions`. The backend remembers each key's directory, so
after vLLM restarts (losing its registry) the next request re-registers the adapter.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import httpx

from .adapters import check_adapter_weights, read_adapter_config
from .backend import (
    AdapterLoadError,
    BackendUnavailable,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
    UnknownAdapterError,
)
from .vllm_server import VllmServer

REQUEST_TIMEOUT = httpx.Timeout(600.0, connect=5.0)


class VllmBackend:
    """Attach to a vLLM at `url`, or (with `launch`) start and supervise one for this base."""

    def __init__(self, base_model: str, *, materialize: Callable[[], Path], max_lora_rank: int,
                 url: str | None = None, launch: Callable[[Path], VllmServer] | None = None):
        if (url is None) == (launch is None):
            raise ValueError("give either the url of a running vLLM or a launch function")
        self.base_model = base_model
        self.served_name = base_model
        self.max_lora_rank = max_lora_rank
        self.url = url.rstrip("/") if url else ""
        self.base_dir: Path | None = None
        self.server: VllmServer | None = None  # ours to supervise and stop, when launched
        self._materialize = materialize
        self._launch = launch
        self._adapters: dict[str, Path] = {}
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # Converting the base model (first time only) and starting vLLM both take a while.
        self.base_dir = await asyncio.to_thread(self._materialize)
        if self._launch is not None:
            self.server = self._launch(self.base_dir)
            await self.server.start()
            self.url = self.server.url
        self._http = httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT)
        try:
            reply = await self._http.get("/v1/models")
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"vLLM at {self.url} does not answer: {exc}") from None
        served = [m["id"] for m in reply.json().get("data", [])]
        if self.served_name not in served:
            raise AdapterLoadError(f"vLLM at {self.url} serves {served}, not {self.served_name!r}; "
                                   "start it with --served-model-name set to the base model")

    # -- adapters -------------------------------------------------------------------------

    async def load_adapter(self, key: str, path: Path) -> None:
        path = Path(path).resolve()
        self.check_adapter(path)
        if key in self._adapters:
            # vLLM refuses a second load under one name: unload first, so the key serves
            # the new weights and never the old ones.
            await self._unregister(key)
            del self._adapters[key]
        await self._register(key, path)
        self._adapters[key] = path

    def check_adapter(self, path: Path) -> None:
        """What vLLM would reject, as a clear AdapterLoadError before it is asked."""
        config = read_adapter_config(path)
        check_adapter_weights(path)
        rank = int(config.get("r") or 0)
        if rank > self.max_lora_rank:
            raise AdapterLoadError(
                f"adapter rank {rank} is above this vLLM's max_lora_rank {self.max_lora_rank}: "
                f"retrain with lora_rank <= {self.max_lora_rank} or raise vllm_max_lora_rank")
        if config.get("modules_to_save"):
            raise AdapterLoadError(
                f"adapter trains whole modules too (modules_to_save={config['modules_to_save']}), "
                "which vLLM cannot serve: retrain with LoRA modules only")
        trained_on = str(config.get("base_model_name_or_path") or "")
        if self.base_dir is not None and trained_on and Path(trained_on).name not in (
                self.base_dir.name, self.base_model, self.served_name):
            raise AdapterLoadError(
                f"adapter was trained on {trained_on!r}, but this vLLM serves {self.base_model!r} "
                f"({self.base_dir.name})")

    async def unload_adapter(self, key: str) -> None:
        if key not in self._adapters:
            raise UnknownAdapterError(f"no adapter is loaded under {key!r}")
        await self._unregister(key)
        del self._adapters[key]

    def has_adapter(self, key: str) -> bool:
        return key in self._adapters

    async def _register(self, key: str, path: Path) -> None:
        reply = await self._post("/v1/load_lora_adapter", {"lora_name": key, "lora_path": str(path)})
        if reply.status_code != 200:
            raise AdapterLoadError(f"vLLM refused adapter {key!r} from {path}: {_error_text(reply)}")

    async def _unregister(self, key: str) -> None:
        reply = await self._post("/v1/unload_lora_adapter", {"lora_name": key})
        # 404: vLLM restarted and no longer knows the name, which is what unloading wants.
        if reply.status_code not in (200, 404) and "not found" not in _error_text(reply).lower():
            raise AdapterLoadError(f"vLLM could not unload {key!r}: {_error_text(reply)}")

    # -- generation -----------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        reply = await self._completion(request, stream=False)
        body = reply.json()
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        return GenerationResult(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        request.validate()
        await self._ensure_registered(request.adapter)
        payload = {**self._payload(request), "stream": True, "stream_options": {"include_usage": True}}
        text, finish, usage = [], "stop", {}
        try:
            assert self._http is not None
            async with self._http.stream("POST", "/v1/chat/completions", json=payload) as reply:
                if reply.status_code != 200:
                    await reply.aread()
                    raise _generation_error(reply)
                async for data in _sse_data(reply):
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices", []):
                        delta = (choice.get("delta") or {}).get("content") or ""
                        if choice.get("finish_reason"):
                            finish = "length" if choice["finish_reason"] == "length" else "stop"
                        if delta:
                            text.append(delta)
                            yield StreamDelta(delta)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"vLLM at {self.url} stopped answering: {exc}") from None
        yield StreamDelta("", GenerationResult(
            text="".join(text), prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)), finish_reason=finish))

    async def _completion(self, request: GenerationRequest, *, stream: bool) -> httpx.Response:
        request.validate()
        await self._ensure_registered(request.adapter)
        reply = await self._post("/v1/chat/completions", self._payload(request))
        if reply.status_code == 404 and request.adapter in self._adapters:
            # vLLM restarted since the adapter was registered: register it again, once.
            await self._register(request.adapter, self._adapters[request.adapter])
            reply = await self._post("/v1/chat/completions", self._payload(request))
        if reply.status_code != 200:
            raise _generation_error(reply)
        return reply

    async def _ensure_registered(self, key: str | None) -> None:
        if key is not None and key not in self._adapters:
            raise UnknownAdapterError(f"no adapter is loaded under {key!r}")

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": request.adapter or self.served_name, "messages": request.messages,
            "max_tokens": request.max_tokens, "temperature": request.temperature}
        if request.top_p is not None:
            payload["top_p"] = request.top_p
        if request.seed is not None:
            payload["seed"] = request.seed
        return payload

    async def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        assert self._http is not None, "start() the backend first"
        try:
            return await self._http.post(path, json=payload)
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"vLLM at {self.url} does not answer ({exc}); "
                                     "it may be restarting, retry shortly") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self.server is not None:
            await self.server.close()


async def _sse_data(reply: httpx.Response) -> AsyncIterator[str]:
    async for line in reply.aiter_lines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                return
            yield data


def _error_text(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text.strip()[:500] or f"HTTP {reply.status_code}"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]


def _generation_error(reply: httpx.Response) -> Exception:
    if reply.status_code >= 500:
        return BackendUnavailable(f"vLLM failed the request: {_error_text(reply)}")
    return ValueError(f"vLLM rejected the request: {_error_text(reply)}")
