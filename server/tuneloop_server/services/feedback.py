"""Corrections of model outputs: from the request log, explicit, or imported in bulk.

A correction names its adapter; the adapter's next training job can include it, and its
retrain policy (if any) counts it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ..auth.principal import Principal
from ..errors import InvalidArgument, NotFound
from ..ids import new_id
from ..store import JobStore
from ..store.records import FeedbackRecord, LineError
from .audit import AuditLog
from .feedback_import import parse_corrections
from .naming import check_adapter_name
from .pii import scrub, scrub_messages
from .retrain import RetrainService

MAX_IMPORT_BYTES = 32 << 20


@dataclass(frozen=True)
class ImportResult:
    imported: int
    errors: list[LineError]


class FeedbackService:
    def __init__(self, store: JobStore, audit: AuditLog, retrain: RetrainService):
        self.store = store
        self.audit = audit
        self.retrain = retrain

    async def submit(self, caller: Principal, request_id: str, correction: str, rating: int | None,
                     note: str, *, messages: list[dict[str, str]] | None = None,
                     adapter: str = "", scrub_personal_data: bool = False) -> FeedbackRecord:
        if not correction.strip():
            raise InvalidArgument("correction is empty: write the answer the model should have given")
        if rating is not None and not 1 <= rating <= 5:
            raise InvalidArgument(f"rating must be between 1 and 5 (got {rating})")
        if request_id:
            logged = await asyncio.to_thread(self.store.get_request, caller.tenant, request_id)
            if logged is None:
                raise NotFound(f"request {request_id!r} not found in the request log")
            messages, output, version = logged.messages, logged.output, logged.adapter_version
            adapter = logged.adapter or ""
        elif messages:
            _check_explicit(messages, adapter)
            output, version = "", 0
        else:
            raise InvalidArgument("give request_id (the id returned by generate), or messages and "
                                  "adapter for a correction of an output that was not logged")
        if scrub_personal_data:
            messages, correction, note = scrub_messages(messages), scrub(correction), scrub(note)
        record = FeedbackRecord(
            tenant_id=caller.tenant, id=new_id("fb"), request_id=request_id, adapter=adapter or None,
            adapter_version=version, messages=messages, output=output, correction=correction,
            rating=rating, note=note, created_at=time.time())
        await asyncio.to_thread(self.store.add_feedback, record)
        await self.retrain.on_new_feedback(caller.tenant, record.adapter)
        return record

    async def import_file(self, caller: Principal, adapter: str, filename: str, content: bytes,
                          scrub_personal_data: bool) -> ImportResult:
        """All or nothing: any bad line and nothing is stored; every bad line is reported."""
        check_adapter_name(adapter)
        if len(content) > MAX_IMPORT_BYTES:
            raise InvalidArgument(f"content is {len(content):,} bytes; import at most "
                                  f"{MAX_IMPORT_BYTES:,} per call (split the file)")
        rows, errors = await asyncio.to_thread(parse_corrections, filename, content)
        if errors or not rows:
            return ImportResult(0, errors or [LineError(0, "the file holds no corrections")])
        now = time.time()
        records = [FeedbackRecord(
            tenant_id=caller.tenant, id=new_id("fb"), request_id="", adapter=adapter,
            adapter_version=0,
            messages=scrub_messages(r.messages) if scrub_personal_data else r.messages, output="",
            correction=scrub(r.correction) if scrub_personal_data else r.correction,
            rating=r.rating, note=scrub(r.note) if scrub_personal_data else r.note,
            created_at=now) for r in rows]
        for record in records:
            await asyncio.to_thread(self.store.add_feedback, record)
        await self.audit.record(caller, "feedback.import", adapter, corrections=len(records),
                                filename=filename[:200])
        await self.retrain.on_new_feedback(caller.tenant, adapter)
        return ImportResult(len(records), [])

    async def list(self, caller: Principal, adapter: str | None) -> list[FeedbackRecord]:
        return await asyncio.to_thread(self.store.list_feedback, caller.tenant, adapter or None)


def _check_explicit(messages: list[dict[str, str]], adapter: str) -> None:
    if not adapter:
        raise InvalidArgument("adapter is required with explicit messages: the adapter the "
                              "correction should train")
    check_adapter_name(adapter)
    for i, m in enumerate(messages):
        if m.get("role") not in ("system", "user", "assistant"):
            raise InvalidArgument(f"messages[{i}].role is {m.get('role')!r}; expected system, user "
                                  "or assistant")
    if messages[-1]["role"] == "assistant":
        raise InvalidArgument("the last message is from the assistant; end the prompt with the "
                              "user's turn (the correction is the answer)")
