"""`client.feedback`: human corrections of model outputs, used by the next training run.

A correction points at a logged call (`request_id`), or carries its prompt (`messages`) and
`adapter` explicitly; reviewers' spreadsheets come in with `import_file`. Corrections count
towards the adapter's retrain policy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Feedback, FeedbackImport


def _submit_request(request_id: str, correction: str, rating: int | None, note: str,
                    messages: Sequence[Mapping[str, str]] | None, adapter: str | None,
                    scrub_personal_data: bool):
    return conv.submit_feedback_request(
        request_id=request_id, correction=correction, rating=rating, note=note,
        messages=messages, adapter=adapter or "", scrub_personal_data=scrub_personal_data)


def _import_request(path: str | os.PathLike[str], adapter: str, scrub_personal_data: bool):
    path = Path(path)
    return conv.import_feedback_request(adapter=adapter, filename=path.name,
                                        content=path.read_bytes(),
                                        scrub_personal_data=scrub_personal_data)


def _write_export(items: list[Feedback], path: str | os.PathLike[str]) -> int:
    """The same JSON Lines format import_file reads back."""
    with open(path, "w", encoding="utf-8") as out:
        for f in items:
            row = {"messages": f.messages, "correction": f.correction, "note": f.note}
            if f.rating is not None:
                row["rating"] = f.rating
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(items)


class FeedbackResource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.feedback

    def submit(self, *, request_id: str = "", correction: str, rating: int | None = None,
               note: str = "", messages: Sequence[Mapping[str, str]] | None = None,
               adapter: str | None = None, scrub_personal_data: bool = False) -> Feedback:
        """Correct the output of the call `request_id` (from Completion.request_id), or give
        the prompt `messages` and the `adapter` explicitly. `rating` is 1..5 when given;
        `scrub_personal_data` replaces e-mails, phone and card numbers before storing."""
        req = _submit_request(request_id, correction, rating, note, messages, adapter,
                              scrub_personal_data)
        return conv.feedback(self._t.call(self._stub.SubmitFeedback, req))

    def import_file(self, path: str | os.PathLike[str], *, adapter: str,
                    scrub_personal_data: bool = False) -> FeedbackImport:
        """Corrections from a CSV (columns prompt, correction[, rating, note]) or JSONL file.
        All or nothing: with any bad line nothing is imported and `errors` names every one."""
        req = _import_request(path, adapter, scrub_personal_data)
        return conv.feedback_import(self._t.call(self._stub.ImportFeedback, req))

    def list(self, *, adapter: str | None = None) -> list[Feedback]:
        req = conv.list_feedback_request(adapter)
        return conv.feedback_list(self._t.call(self._stub.ListFeedback, req))

    def export(self, path: str | os.PathLike[str], *, adapter: str | None = None) -> int:
        """Write the corrections (of one adapter, or all) as JSONL; returns how many."""
        return _write_export(self.list(adapter=adapter), path)


class AsyncFeedbackResource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.feedback

    async def submit(self, *, request_id: str = "", correction: str, rating: int | None = None,
                     note: str = "", messages: Sequence[Mapping[str, str]] | None = None,
                     adapter: str | None = None, scrub_personal_data: bool = False) -> Feedback:
        """See `FeedbackResource.submit`."""
        req = _submit_request(request_id, correction, rating, note, messages, adapter,
                              scrub_personal_data)
        return conv.feedback(await self._t.call(self._stub.SubmitFeedback, req))

    async def import_file(self, path: str | os.PathLike[str], *, adapter: str,
                          scrub_personal_data: bool = False) -> FeedbackImport:
        req = _import_request(path, adapter, scrub_personal_data)
        return conv.feedback_import(await self._t.call(self._stub.ImportFeedback, req))

    async def list(self, *, adapter: str | None = None) -> list[Feedback]:
        req = conv.list_feedback_request(adapter)
        return conv.feedback_list(await self._t.call(self._stub.ListFeedback, req))

    async def export(self, path: str | os.PathLike[str], *, adapter: str | None = None) -> int:
        return _write_export(await self.list(adapter=adapter), path)
