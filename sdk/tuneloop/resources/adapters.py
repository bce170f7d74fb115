"""`client.adapters`: the trained adapters, by name, with their published versions."""

from __future__ import annotations

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Adapter


class Adapters:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.adapters

    def list(self) -> list[Adapter]:
        return conv.adapters(self._t.call(self._stub.ListAdapters, conv.list_adapters_request()))

    def get(self, name: str) -> Adapter:
        return conv.adapter(self._t.call(self._stub.GetAdapter, conv.get_adapter_request(name)))

    def delete(self, name: str) -> None:
        """Delete every version of the adapter and unload it from serving."""
        self._t.call(self._stub.DeleteAdapter, conv.delete_adapter_request(name))


class AsyncAdapters:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.adapters

    async def list(self) -> list[Adapter]:
        req = conv.list_adapters_request()
        return conv.adapters(await self._t.call(self._stub.ListAdapters, req))

    async def get(self, name: str) -> Adapter:
        req = conv.get_adapter_request(name)
        return conv.adapter(await self._t.call(self._stub.GetAdapter, req))

    async def delete(self, name: str) -> None:
        await self._t.call(self._stub.DeleteAdapter, conv.delete_adapter_request(name))
