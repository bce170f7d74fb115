"""The worker side of the job queue: register, lease, heartbeat, report, complete, fail.

Every call after the lease names (job_id, attempt). The store rejects an attempt that is
no longer current, so a worker that was presumed dead cannot overwrite its successor.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from ..config import ServerSettings
from ..errors import InvalidArgument
from ..objects import tenant_prefix
from ..ids import new_id
from ..store import JobStore
from ..store.records import AdapterVersionRecord, EventType, JobRecord, JobState, NewEvent
from .events import EventHub, Signal
from .job_evaluation import EvaluationOptions, judge
from .serving import ServingManager

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assignment:
    job: JobRecord
    dataset_key: str
    validation_dataset_key: str | None
    feedback_key: str | None
    output_prefix: str
    checkpoint_prefix: str
    eval_key: str | None = None
    general_eval_key: str | None = None
    previous_adapter_key: str | None = None
    warm_start: bool = False


class WorkerService:
    def __init__(self, store: JobStore, hub: EventHub, serving: ServingManager,
                 settings: ServerSettings):
        self.store = store
        self.hub = hub
        self.serving = serving
        self.settings = settings

    async def register(self, name: str, accelerator: str, memory_bytes: int) -> str:
        worker_id = new_id("wrk")
        await asyncio.to_thread(self.store.register_worker, worker_id, name or worker_id,
                                accelerator or "cpu", memory_bytes)
        return worker_id

    async def lease(self, worker_id: str, wait_seconds: float) -> Assignment | None:
        deadline = time.monotonic() + max(0.0, min(wait_seconds, 60.0))
        await asyncio.to_thread(self.store.touch_worker, worker_id)  # liveness, for queue ETAs
        while True:
            snapshot = self.hub.queue.snapshot()
            job = await asyncio.to_thread(self.store.claim_next_job, worker_id,
                                          self.settings.lease_seconds)
            if job is not None:
                self.hub.job_changed(job.id)
                return await asyncio.to_thread(self._assignment, job)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # Poll the database too: a job queued through another replica fires no signal here.
            await Signal.wait(snapshot, min(remaining, 1.0))

    def _assignment(self, job: JobRecord) -> Assignment:
        def key(dataset_id: str | None) -> str | None:
            record = self.store.get_dataset(job.tenant_id, dataset_id) if dataset_id else None
            return record.object_key if record else None

        options = EvaluationOptions.from_dict(job.evaluation)
        previous = (self.store.get_adapter_version(job.tenant_id, job.adapter, job.previous_version)
                    if job.previous_version else None)
        return Assignment(job=job, dataset_key=key(job.dataset_id) or "",
                          validation_dataset_key=key(job.validation_dataset_id),
                          feedback_key=job.feedback_key,
                          output_prefix=f"{_job_prefix(job)}/attempt-{job.attempt}",
                          checkpoint_prefix=f"{_job_prefix(job)}/checkpoints",
                          eval_key=key(options.eval_dataset_id or None) or job.eval_key,
                          general_eval_key=key(options.general_eval_dataset_id or None),
                          previous_adapter_key=previous.object_key if previous else None,
                          warm_start=options.warm_start and previous is not None)

    async def heartbeat(self, worker_id: str, job_id: str, attempt: int) -> bool:
        job = await asyncio.to_thread(self.store.renew_lease, job_id, attempt, worker_id,
                                      self.settings.lease_seconds)
        return job.cancel_requested

    async def report_events(self, job_id: str, attempt: int, events: list[NewEvent]) -> bool:
        for i, event in enumerate(events):
            if event.type in (EventType.STATE, EventType.ADAPTER_READY):
                raise InvalidArgument(f"workers may not report {event.type.value} events")
            bad = [k for k, v in event.metrics.items() if not math.isfinite(v)]
            if bad:
                # JSON has no NaN/Infinity (PostgreSQL rejects them); a diverged loss is
                # reported as a failure, not stored as a metric.
                raise InvalidArgument(f"events[{i}].metrics has non-finite values for {', '.join(bad)}")
        job = await asyncio.to_thread(self.store.append_events, job_id, attempt, events)
        self.hub.job_changed(job_id)
        return job.cancel_requested

    async def complete(self, worker_id: str, job_id: str, attempt: int, adapter_key: str,
                       metrics: dict[str, float] | None = None) -> JobRecord:
        if not adapter_key:
            raise InvalidArgument("adapter_key is required: the object prefix of the published adapter")
        # A fresh lease for the preload below; the worker keeps heartbeating meanwhile too.
        job = await asyncio.to_thread(self.store.renew_lease, job_id, attempt, worker_id,
                                      self.settings.lease_seconds)
        if not adapter_key.startswith(_job_prefix(job) + "/"):
            # A worker publishes only inside the prefix it was given: never into another
            # job's (or another tenant's) objects.
            raise InvalidArgument(f"adapter_key must lie under this job's output prefix "
                                  f"{_job_prefix(job)}/; got {adapter_key!r}")
        # Load before announcing: once the job says SUCCEEDED, the adapter answers at once.
        # The first load on a replica may load the base model too, which can outlast the
        # lease: hold the lease meanwhile, so the reaper does not requeue a finished job.
        keeper = asyncio.create_task(self._hold_lease(job_id, attempt, worker_id))
        try:
            await self.serving.ensure_loaded(job.base_model, job.id, adapter_key)
        except Exception as exc:  # serving will retry on first request; training still succeeded
            log.warning("preloading adapter of %s failed: %s", job_id, exc)
            await asyncio.to_thread(self.store.append_events, job_id, attempt, [NewEvent(
                EventType.LOG, message=f"adapter not preloaded ({exc}); it loads on first request")])
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        version = AdapterVersionRecord(tenant_id=job.tenant_id, name=job.adapter, version=0, base_model=job.base_model,
                                       job_id=job.id, object_key=adapter_key, created_at=0)
        threshold = EvaluationOptions.from_dict(job.evaluation).promotion_threshold
        promotion = judge(job.previous_version, metrics or {}, threshold)
        job = await asyncio.to_thread(self.store.finish_job, job_id, attempt, JobState.SUCCEEDED,
                                      adapter=version, message="succeeded", promotion=promotion)
        self.hub.job_changed(job_id)
        return job

    async def _hold_lease(self, job_id: str, attempt: int, worker_id: str) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            await asyncio.to_thread(self.store.renew_lease, job_id, attempt, worker_id,
                                    self.settings.lease_seconds)

    async def fail(self, job_id: str, attempt: int, error: str, cancelled: bool,
                   retryable: bool = False) -> JobRecord:
        message = "cancelled" if cancelled else (error or "failed without an error message")
        if retryable and not cancelled:
            job = await asyncio.to_thread(self.store.retry_or_fail, job_id, attempt, message,
                                          self.settings.max_attempts)
            if job.state is JobState.QUEUED:
                self.hub.queue.fire()
        else:
            state = JobState.CANCELLED if cancelled else JobState.FAILED
            job = await asyncio.to_thread(self.store.finish_job, job_id, attempt, state,
                                          error="" if cancelled else message, message=message)
        self.hub.job_changed(job_id)
        return job

    async def reap_expired_leases_forever(self, interval: float = 2.0) -> None:
        while True:
            try:
                expired = await asyncio.to_thread(self.store.expire_leases, time.time(),
                                                  self.settings.max_attempts)
                for job in expired:
                    log.warning("job %s lost its worker: now %s", job.id, job.state.value)
                    self.hub.job_changed(job.id)
                if any(job.state is JobState.QUEUED for job in expired):
                    self.hub.queue.fire()
            except Exception:
                log.exception("lease reaper failed; retrying")
            await asyncio.sleep(interval)


def _job_prefix(job: JobRecord) -> str:
    return f"{tenant_prefix(job.tenant_id)}/jobs/{job.id}"
