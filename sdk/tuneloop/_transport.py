"""Channels, auth metadata, retries and resumable streams, for the sync and async clients.

Retry policy: only UNAVAILABLE is retried (the call did not reach a healthy server), with
exponential backoff and full jitter; every other status is the server's answer and is raised
at once. Requests are built once, before the first attempt, so anything in them (such as the
CreateJob idempotency key) is identical on every attempt.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ._errors import TuneloopError, UnavailableError, error_from_rpc
from .v1 import (
    adapters_pb2_grpc,
    admin_pb2_grpc,
    datasets_pb2_grpc,
    feedback_pb2_grpc,
    inference_pb2_grpc,
    jobs_pb2_grpc,
)

DEFAULT_ADDRESS = "localhost:50051"
DEFAULT_TIMEOUT = 60.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Backoff before retry n (1-based) is uniform in [0, min(BACKOFF_MAX, BACKOFF_BASE * 2**(n-1))]
# seconds: full jitter, so many clients cut off by one server restart do not return in step.
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0

# Keepalive pings notice a dead connection under a long watch stream. 60 s with no pings on
# idle connections stays within what a gRPC server accepts by default (it answers pings more
# frequent than its min interval with GOAWAY "too_many_pings").
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.primary_user_agent", "tuneloop-python"),
]


# Per-call `timeout` default meaning "the client's timeout"; None means no deadline at all.
CLIENT_TIMEOUT: Any = object()


def resolve_address(address: str | None) -> str:
    return address or os.environ.get("TUNELOOP_ADDRESS") or DEFAULT_ADDRESS


def default_key_file() -> Path:
    """Where a local server writes its user key: <TUNELOOP_DATA_DIR or ~/.tuneloop>/api.key."""
    data_dir = os.environ.get("TUNELOOP_DATA_DIR")
    return (Path(data_dir) if data_dir else Path.home() / ".tuneloop") / "api.key"


def resolve_api_key(api_key: str | None) -> str | None:
    """The explicit key, else env TUNELOOP_API_KEY, else the local server's key file."""
    if api_key is not None:
        return api_key
    if os.environ.get("TUNELOOP_API_KEY"):
        return os.environ["TUNELOOP_API_KEY"]
    path = default_key_file()
    return path.read_text().strip() if path.is_file() else None


def auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    key = resolve_api_key(api_key)
    return (("authorization", f"Bearer {key}"),) if key else ()


def channel_credentials(tls: bool, ca_file: str | Path | None) -> grpc.ChannelCredentials | None:
    """None for plaintext; TLS with the system roots, or with `ca_file` (which implies TLS)."""
    ca_file = ca_file or os.environ.get("TUNELOOP_TLS_CA_FILE") or None
    if ca_file is not None:
        return grpc.ssl_channel_credentials(Path(ca_file).read_bytes())
    return grpc.ssl_channel_credentials() if tls else None


def backoff_delay(retry_number: int) -> float:
    """Full-jitter exponential backoff, the same curve tenacity uses for unary calls."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (retry_number - 1)))


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _Stubs:
    def __init__(self, channel: Any) -> None:
        self.datasets = datasets_pb2_grpc.DatasetServiceStub(channel)
        self.jobs = jobs_pb2_grpc.JobServiceStub(channel)
        self.adapters = adapters_pb2_grpc.AdapterServiceStub(channel)
        self.inference = inference_pb2_grpc.InferenceServiceStub(channel)
        self.feedback = feedback_pb2_grpc.FeedbackServiceStub(channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)


class _Base:
    def __init__(
        self, address: str | None, api_key: str | None, timeout: float | None, max_retries: int
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.address = resolve_address(address)
        self.metadata = auth_metadata(api_key)
        self.timeout = timeout
        self.max_retries = max_retries

    def _retry_kwargs(self) -> dict[str, Any]:
        return dict(
            retry=retry_if_exception_type(UnavailableError),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_random_exponential(multiplier=BACKOFF_BASE, max=BACKOFF_MAX),
            reraise=True,
        )

    def _give_up(self, err: TuneloopError, failures: int, resumable: bool) -> bool:
        return not isinstance(err, UnavailableError) or failures > self.max_retries or not resumable


class SyncTransport(_Base):
    def __init__(self, address: str | None, api_key: str | None, timeout: float | None,
                 max_retries: int, tls: bool, ca_file: str | Path | None = None) -> None:
        super().__init__(address, api_key, timeout, max_retries)
        creds = channel_credentials(tls, ca_file)
        if creds is not None:
            self.channel = grpc.secure_channel(self.address, creds, options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        self.stubs = _Stubs(self.channel)

    def call(self, rpc: Callable[..., Any], request: Any, *, timeout: Any = CLIENT_TIMEOUT) -> Any:
        """Unary (or client-streaming) call with retries. `request` may be a zero-argument
        factory, for request iterators that must be rebuilt on each attempt."""
        deadline = self.timeout if timeout is CLIENT_TIMEOUT else timeout

        def attempt() -> Any:
            req = request() if callable(request) else request
            try:
                return rpc(req, metadata=self.metadata, timeout=deadline)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from exc

        return Retrying(**self._retry_kwargs())(attempt)

    def stream(self, rpc: Callable[..., Any], make_request: Callable[[], Any], *,
               resumable: bool, deadline: float | None = None) -> Iterator[Any]:
        """Server stream, re-opened on UNAVAILABLE with a fresh `make_request()`.

        A resumable stream's request factory must ask for what comes after the last message
        seen (watch uses after_seq); a non-resumable one is re-opened only before its first
        message, since re-opening later would repeat output.
        """
        failures, received = 0, False
        while True:
            call = rpc(make_request(), metadata=self.metadata, timeout=_remaining(deadline))
            try:
                for msg in call:
                    failures, received = 0, True
                    yield msg
                return
            except grpc.RpcError as exc:
                err = error_from_rpc(exc)
                failures += 1
                if self._give_up(err, failures, resumable or not received):
                    raise err from exc
            finally:
                call.cancel()  # no-op when finished; stops the server side if we stop early
            time.sleep(backoff_delay(failures))

    def close(self) -> None:
        self.channel.close()


class AsyncTransport(_Base):
    def __init__(self, address: str | None, api_key: str | None, timeout: float | None,
                 max_retries: int, tls: bool, ca_file: str | Path | None = None) -> None:
        super().__init__(address, api_key, timeout, max_retries)
        creds = channel_credentials(tls, ca_file)
        if creds is not None:
            self.channel = grpc.aio.secure_channel(self.address, creds, options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        self.stubs = _Stubs(self.channel)

    async def call(self, rpc: Callable[..., Any], request: Any, *,
                   timeout: Any = CLIENT_TIMEOUT) -> Any:
        deadline = self.timeout if timeout is CLIENT_TIMEOUT else timeout

        async def attempt() -> Any:
            req = request() if callable(request) else request
            try:
                return await rpc(req, metadata=self.metadata, timeout=deadline)
            except grpc.aio.AioRpcError as exc:
                raise error_from_rpc(exc) from exc

        return await AsyncRetrying(**self._retry_kwargs())(attempt)

    async def stream(self, rpc: Callable[..., Any], make_request: Callable[[], Any], *,
                     resumable: bool, deadline: float | None = None) -> AsyncIterator[Any]:
        """Async twin of `SyncTransport.stream`."""
        failures, received = 0, False
        while True:
            call = rpc(make_request(), metadata=self.metadata, timeout=_remaining(deadline))
            try:
                async for msg in call:
                    failures, received = 0, True
                    yield msg
                return
            except grpc.aio.AioRpcError as exc:
                err = error_from_rpc(exc)
                failures += 1
                if self._give_up(err, failures, resumable or not received):
                    raise err from exc
            finally:
                call.cancel()
            await asyncio.sleep(backoff_delay(failures))

    async def close(self) -> None:
        await self.channel.close()
