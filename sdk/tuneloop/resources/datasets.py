"""`client.datasets`: upload JSON Lines files and manage the stored datasets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Dataset

CHUNK_SIZE = 1024 * 1024
PathLike = str | os.PathLike[str]


def _check_file(path: PathLike, chunk_size: int) -> None:
    # Fail before opening a stream: a missing file is the caller's mistake, not the server's.
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {os.fspath(path)}")


class Datasets:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.datasets

    def upload(self, path: PathLike, *, name: str | None = None,
               progress: conv.Progress | None = None, chunk_size: int = CHUNK_SIZE) -> Dataset:
        """Stream a JSON Lines file to the server; returns the Dataset (READY or INVALID).

        `progress(bytes_sent, total)` is called after each chunk (from gRPC's sending thread).
        No deadline applies: a large file on a slow link may take long.
        """
        _check_file(path, chunk_size)

        def requests() -> Iterator[Any]:  # rebuilt on each retry, re-reading the file
            return conv.upload_requests(path, name, chunk_size, progress)

        return conv.dataset(self._t.call(self._stub.UploadDataset, requests, timeout=None))

    def get(self, dataset_id: str) -> Dataset:
        req = conv.get_dataset_request(dataset_id)
        return conv.dataset(self._t.call(self._stub.GetDataset, req))

    def list(self) -> list[Dataset]:
        return conv.datasets(self._t.call(self._stub.ListDatasets, conv.list_datasets_request()))

    def delete(self, dataset_id: str) -> None:
        self._t.call(self._stub.DeleteDataset, conv.delete_dataset_request(dataset_id))


async def _in_thread(it: Iterator[Any]) -> AsyncIterator[Any]:
    # File reads and hashing happen in a worker thread so the event loop never blocks on disk.
    done = object()
    while (item := await asyncio.to_thread(next, it, done)) is not done:
        yield item


class AsyncDatasets:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.datasets

    async def upload(self, path: PathLike, *, name: str | None = None,
                     progress: conv.Progress | None = None,
                     chunk_size: int = CHUNK_SIZE) -> Dataset:
        """See `Datasets.upload`; `progress` is called from a worker thread."""
        _check_file(path, chunk_size)

        def requests() -> AsyncIterator[Any]:
            return _in_thread(conv.upload_requests(path, name, chunk_size, progress))

        return conv.dataset(await self._t.call(self._stub.UploadDataset, requests, timeout=None))

    async def get(self, dataset_id: str) -> Dataset:
        req = conv.get_dataset_request(dataset_id)
        return conv.dataset(await self._t.call(self._stub.GetDataset, req))

    async def list(self) -> list[Dataset]:
        req = conv.list_datasets_request()
        return conv.datasets(await self._t.call(self._stub.ListDatasets, req))

    async def delete(self, dataset_id: str) -> None:
        await self._t.call(self._stub.DeleteDataset, conv.delete_dataset_request(dataset_id))
