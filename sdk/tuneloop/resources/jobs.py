"""`client.jobs`: create fine-tuning jobs, follow their event stream, wait for the result."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from .. import _convert as conv
from .._errors import DeadlineExceededError, JobFailedError, WaitTimeoutError
from .._transport import AsyncTransport, SyncTransport
from ..types import Dataset, Job, JobEvent

# A watch stream that ends before the job is terminal (server restart, graceful shutdown)
# is re-opened after this pause by `wait`.
REWATCH_PAUSE = 0.5


def _finished(job: Job) -> Job:
    if job.state != "succeeded":
        raise JobFailedError(job)
    return job


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _expired(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _create_request(**kwargs: Any) -> Any:
    # The key is fixed here, once: every retry of this request then carries the same key.
    kwargs["idempotency_key"] = kwargs["idempotency_key"] or str(uuid.uuid4())
    kwargs["evaluation"] = conv.evaluation_pb(kwargs["evaluation"])
    return conv.create_job_request(**kwargs)


class _Cursor:
    """The last seq seen. Events at or before it are dropped, so an event a server resends
    after a reconnect never shows twice; re-opened streams ask for what comes after it."""

    def __init__(self, job_id: str, after_seq: int) -> None:
        self.job_id, self.seq = job_id, after_seq

    def request(self) -> Any:
        return conv.watch_job_request(self.job_id, self.seq)

    def take(self, msg: Any) -> JobEvent | None:
        event = conv.job_event(msg)
        if event.seq <= self.seq:
            return None
        self.seq = event.seq
        return event


def _timed_out(job_id: str, timeout: float | None, exc: DeadlineExceededError) -> Exception:
    # A deadline error only means "wait timed out" when the caller asked for a bounded wait.
    return WaitTimeoutError(job_id, timeout) if timeout is not None else exc


class Jobs:
    def __init__(self, transport: SyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.jobs

    def create(self, *, base_model: str, dataset: str | Dataset, adapter: str,
               validation_dataset: str | Dataset | None = None, method: str = "lora",
               hyperparameters: Mapping[str, Any] | None = None,
               idempotency_key: str | None = None, include_feedback: bool = False,
               evaluation: Mapping[str, Any] | None = None) -> Job:
        """Queue a fine-tune of `base_model` on `dataset`, published as adapter `adapter`.

        `evaluation` decides whether the new version replaces the promoted one: keys
        eval_dataset (id or Dataset; default with include_feedback: a held-out eval_share of
        the corrections, 0.2), promotion_threshold (0), warm_start (False), feedback_weight (1),
        general_eval_dataset. Unknown hyperparameter or evaluation keys raise
        InvalidArgumentError before anything is sent.
        """
        req = _create_request(
            base_model=base_model, dataset=dataset, adapter=adapter,
            validation_dataset=validation_dataset, method=method,
            hyperparameters=hyperparameters, idempotency_key=idempotency_key,
            include_feedback=include_feedback, evaluation=evaluation,
        )
        return conv.job(self._t.call(self._stub.CreateJob, req))

    def get(self, job_id: str) -> Job:
        return conv.job(self._t.call(self._stub.GetJob, conv.get_job_request(job_id)))

    def list(self, *, state: str | None = None) -> list[Job]:
        return conv.jobs(self._t.call(self._stub.ListJobs, conv.list_jobs_request(state)))

    def cancel(self, job_id: str) -> Job:
        return conv.job(self._t.call(self._stub.CancelJob, conv.cancel_job_request(job_id)))

    def watch(self, job_id: str, *, after_seq: int = 0) -> Iterator[JobEvent]:
        """Events after `after_seq`, in seq order, until the server ends the stream (after the
        event that makes the job terminal). A dropped connection is resumed without gaps."""
        return self._watch(job_id, after_seq, None)

    def _watch(self, job_id: str, after_seq: int, deadline: float | None) -> Iterator[JobEvent]:
        cursor = _Cursor(job_id, after_seq)
        messages = self._t.stream(
            self._stub.WatchJob, cursor.request, resumable=True, deadline=deadline
        )
        for msg in messages:
            if (event := cursor.take(msg)) is not None:
                yield event

    def wait(self, job_id: str, *, timeout: float | None = 600,
             on_event: Callable[[JobEvent], None] | None = None) -> Job:
        """Block until the job is terminal and return it; `on_event` sees every event.

        Raises JobFailedError if it ends failed or cancelled, WaitTimeoutError after `timeout`
        seconds (None waits forever); the job itself keeps running on a timeout.
        """
        deadline, last = _deadline(timeout), 0
        try:
            while True:
                for event in self._watch(job_id, last, deadline):
                    last = event.seq
                    if on_event is not None:
                        on_event(event)
                job = self.get(job_id)
                if job.done:
                    return _finished(job)
                if _expired(deadline):
                    raise WaitTimeoutError(job_id, timeout or 0.0)
                time.sleep(REWATCH_PAUSE)
        except WaitTimeoutError:
            raise
        except DeadlineExceededError as exc:
            raise _timed_out(job_id, timeout, exc) from None


class AsyncJobs:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport
        self._stub = transport.stubs.jobs

    async def create(self, *, base_model: str, dataset: str | Dataset, adapter: str,
                     validation_dataset: str | Dataset | None = None, method: str = "lora",
                     hyperparameters: Mapping[str, Any] | None = None,
                     idempotency_key: str | None = None,
                     include_feedback: bool = False,
                     evaluation: Mapping[str, Any] | None = None) -> Job:
        """See `Jobs.create`."""
        req = _create_request(
            base_model=base_model, dataset=dataset, adapter=adapter,
            validation_dataset=validation_dataset, method=method,
            hyperparameters=hyperparameters, idempotency_key=idempotency_key,
            include_feedback=include_feedback, evaluation=evaluation,
        )
        return conv.job(await self._t.call(self._stub.CreateJob, req))

    async def get(self, job_id: str) -> Job:
        return conv.job(await self._t.call(self._stub.GetJob, conv.get_job_request(job_id)))

    async def list(self, *, state: str | None = None) -> list[Job]:
        return conv.jobs(await self._t.call(self._stub.ListJobs, conv.list_jobs_request(state)))

    async def cancel(self, job_id: str) -> Job:
        return conv.job(await self._t.call(self._stub.CancelJob, conv.cancel_job_request(job_id)))

    def watch(self, job_id: str, *, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        """See `Jobs.watch`; use with `async for`."""
        return self._watch(job_id, after_seq, None)

    async def _watch(self, job_id: str, after_seq: int,
                     deadline: float | None) -> AsyncIterator[JobEvent]:
        cursor = _Cursor(job_id, after_seq)
        messages = self._t.stream(
            self._stub.WatchJob, cursor.request, resumable=True, deadline=deadline
        )
        async for msg in messages:
            if (event := cursor.take(msg)) is not None:
                yield event

    async def wait(self, job_id: str, *, timeout: float | None = 600,
                   on_event: Callable[[JobEvent], Any] | None = None) -> Job:
        """See `Jobs.wait`; `on_event` may be a plain function or a coroutine function."""
        deadline, last = _deadline(timeout), 0
        try:
            while True:
                async for event in self._watch(job_id, last, deadline):
                    last = event.seq
                    if on_event is not None and asyncio.iscoroutine(result := on_event(event)):
                        await result
                job = await self.get(job_id)
                if job.done:
                    return _finished(job)
                if _expired(deadline):
                    raise WaitTimeoutError(job_id, timeout or 0.0)
                await asyncio.sleep(REWATCH_PAUSE)
        except WaitTimeoutError:
            raise
        except DeadlineExceededError as exc:
            raise _timed_out(job_id, timeout, exc) from None
