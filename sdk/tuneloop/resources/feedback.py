"""`client.feedback`: human corrections of logged outputs, used by the next training run."""

from __future__ import annotations

from .. import _convert as conv
from .._transport import AsyncTransport, SyncTransport
from ..types import Feedback


class FeedbackResource:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.feedback

    def submit(self, *, request_id: str, correction: str, rating: int | None = None,
               note: str = "") -> Feedback:
        """Correct the output of the call `request_id` (from Completion.request_id).
        `rating` is 1..5 when given."""
        req = conv.submit_feedback_request(
            request_id=request_id, correction=correction, rating=rating, note=note
        )
        return conv.feedback(self._t.call(self._stub.SubmitFeedback, req))

    def list(self, *, adapter: str | None = None) -> list[Feedback]:
        req = conv.list_feedback_request(adapter)
        return conv.feedback_list(self._t.call(self._stub.ListFeedback, req))


class AsyncFeedbackResource:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.feedback

    async def submit(self, *, request_id: str, correction: str, rating: int | None = None,
                     note: str = "") -> Feedback:
        """See `FeedbackResource.submit`."""
        req = conv.submit_feedback_request(
            request_id=request_id, correction=correction, rating=rating, note=note
        )
        return conv.feedback(await self._t.call(self._stub.SubmitFeedback, req))

    async def list(self, *, adapter: str | None = None) -> list[Feedback]:
        req = conv.list_feedback_request(adapter)
        return conv.feedback_list(await self._t.call(self._stub.ListFeedback, req))
