"""`Client` and `AsyncClient`: one gRPC channel each, with resources hanging off it."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from ._transport import DEFAULT_TIMEOUT, AsyncTransport, SyncTransport
from .resources import (
    Adapters,
    Admin,
    AsyncAdmin,
    AsyncAdapters,
    AsyncDatasets,
    AsyncFeedbackResource,
    AsyncInference,
    AsyncJobs,
    Datasets,
    FeedbackResource,
    Inference,
    Jobs,
)

__all__ = ["Client", "AsyncClient"]


class Client:
    """Synchronous client of a tuneloop server.

    address:      "host:port"; defaults to env TUNELOOP_ADDRESS, then "localhost:50051".
    api_key:      sent as "authorization: Bearer <key>"; defaults to env TUNELOOP_API_KEY,
                  then the key a local server wrote to ~/.tuneloop/api.key.
    timeout:      deadline in seconds for each unary call (None: no deadline). Streams
                  (upload, watch, stream) have none.
    max_retries:  retries of a call that failed with UNAVAILABLE (no other status is retried).
    tls:          use a TLS channel with the system's root certificates.
    ca_file:      use TLS and trust this CA (PEM) instead; defaults to env TUNELOOP_TLS_CA_FILE.
    """

    def __init__(self, address: str | None = None, *, api_key: str | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, max_retries: int = 3,
                 tls: bool = False, ca_file: str | Path | None = None) -> None:
        self._transport = SyncTransport(address, api_key, timeout, max_retries, tls, ca_file)
        self.datasets = Datasets(self._transport)
        self.jobs = Jobs(self._transport)
        self.adapters = Adapters(self._transport)
        self.inference = Inference(self._transport)
        self.feedback = FeedbackResource(self._transport)
        self.admin = Admin(self._transport)

    @property
    def address(self) -> str:
        return self._transport.address

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(address={self.address!r})"


class AsyncClient:
    """Asyncio client; the same arguments and resources as `Client`, with async methods.

    Create it inside the event loop that uses it (grpc.aio channels are bound to one loop).
    """

    def __init__(self, address: str | None = None, *, api_key: str | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, max_retries: int = 3,
                 tls: bool = False, ca_file: str | Path | None = None) -> None:
        self._transport = AsyncTransport(address, api_key, timeout, max_retries, tls, ca_file)
        self.datasets = AsyncDatasets(self._transport)
        self.jobs = AsyncJobs(self._transport)
        self.adapters = AsyncAdapters(self._transport)
        self.inference = AsyncInference(self._transport)
        self.feedback = AsyncFeedbackResource(self._transport)
        self.admin = AsyncAdmin(self._transport)

    @property
    def address(self) -> str:
        return self._transport.address

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(address={self.address!r})"
