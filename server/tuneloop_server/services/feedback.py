"""Corrections of logged outputs; the next training job of the adapter can include them."""

from __future__ import annotations

import asyncio
import time

from ..auth.principal import Principal
from ..errors import InvalidArgument, NotFound
from ..ids import new_id
from ..store import JobStore
from ..store.records import FeedbackRecord


class FeedbackService:
    def __init__(self, store: JobStore):
        self.store = store

    async def submit(self, caller: Principal, request_id: str, correction: str, rating: int | None,
                     note: str) -> FeedbackRecord:
        if not request_id:
            raise InvalidArgument("request_id is required: the id returned by generate")
        if not correction.strip():
            raise InvalidArgument("correction is empty: write the answer the model should have given")
        if rating is not None and not 1 <= rating <= 5:
            raise InvalidArgument(f"rating must be between 1 and 5 (got {rating})")
        logged = await asyncio.to_thread(self.store.get_request, caller.tenant, request_id)
        if logged is None:
            raise NotFound(f"request {request_id!r} not found in the request log")
        record = FeedbackRecord(
            tenant_id=caller.tenant, id=new_id("fb"), request_id=request_id, adapter=logged.adapter,
            adapter_version=logged.adapter_version, messages=logged.messages, output=logged.output,
            correction=correction, rating=rating, note=note, created_at=time.time())
        await asyncio.to_thread(self.store.add_feedback, record)
        return record

    async def list(self, caller: Principal, adapter: str | None) -> list[FeedbackRecord]:
        return await asyncio.to_thread(self.store.list_feedback, caller.tenant, adapter or None)
