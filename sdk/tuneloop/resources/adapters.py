"""`client.adapters`: the trained adapters, by name, with their published versions.

Plain `name` serves the promoted version: the newest that passed its evaluation gate, or
whichever `promote` chose. `name@v3` always means version 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Adapter, Dataset, RetrainPolicy


def _policy_request(name: str, dataset: str | Dataset, after_corrections: int, every_seconds: float,
                    hyperparameters: Mapping[str, Any] | None, base_model: str,
                    evaluation: Mapping[str, Any] | None, enabled: bool) -> Any:
    return conv.retrain_policy_request(
        adapter=name, dataset=dataset, base_model=base_model, hyperparameters=hyperparameters,
        after_corrections=after_corrections, every_seconds=every_seconds, evaluation=evaluation,
        enabled=enabled)


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

    def promote(self, name: str, version: int) -> Adapter:
        """Serve `version` under plain `name` from the next request on (roll back or forward)."""
        return conv.adapter(self._t.call(self._stub.PromoteAdapter, conv.promote_request(name, version)))

    def set_retrain_policy(self, name: str, *, dataset: str | Dataset, after_corrections: int = 0,
                           every_seconds: float = 0.0,
                           hyperparameters: Mapping[str, Any] | None = None, base_model: str = "",
                           evaluation: Mapping[str, Any] | None = None,
                           enabled: bool = True) -> RetrainPolicy:
        """Retrain `name` by itself on `dataset` plus its corrections, after `after_corrections`
        new ones or every `every_seconds` when there are new ones. `evaluation` as in jobs.create."""
        req = _policy_request(name, dataset, after_corrections, every_seconds, hyperparameters,
                              base_model, evaluation, enabled)
        return conv.retrain_policy(self._t.call(self._stub.SetRetrainPolicy, req))

    def get_retrain_policy(self, name: str) -> RetrainPolicy:
        req = conv.get_retrain_policy_request(name)
        return conv.retrain_policy(self._t.call(self._stub.GetRetrainPolicy, req))


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

    async def promote(self, name: str, version: int) -> Adapter:
        req = conv.promote_request(name, version)
        return conv.adapter(await self._t.call(self._stub.PromoteAdapter, req))

    async def set_retrain_policy(self, name: str, *, dataset: str | Dataset,
                                 after_corrections: int = 0, every_seconds: float = 0.0,
                                 hyperparameters: Mapping[str, Any] | None = None,
                                 base_model: str = "", evaluation: Mapping[str, Any] | None = None,
                                 enabled: bool = True) -> RetrainPolicy:
        req = _policy_request(name, dataset, after_corrections, every_seconds, hyperparameters,
                              base_model, evaluation, enabled)
        return conv.retrain_policy(await self._t.call(self._stub.SetRetrainPolicy, req))

    async def get_retrain_policy(self, name: str) -> RetrainPolicy:
        req = conv.get_retrain_policy_request(name)
        return conv.retrain_policy(await self._t.call(self._stub.GetRetrainPolicy, req))
