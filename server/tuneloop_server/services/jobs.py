"""Job creation (with every check a user needs to fix their request), queries, cancel, watch."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from pydantic import ValidationError
from tuneloop_worker import base_models
from tuneloop_worker.training.config import TrainingConfig, config_errors

from ..auth.principal import Principal
from ..auth.quotas import QuotaPolicy
from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..ids import new_id
from ..objects import ObjectStore, tenant_prefix
from ..store import JobStore
from ..store.records import DatasetStatus, EventRecord, EventType, JobRecord, JobState
from .audit import AuditLog
from .events import EventHub, Signal
from .job_evaluation import EvaluationOptions, split_feedback, write_chat_jsonl
from .naming import check_adapter_name

# The change poller (events.poll_changes_forever) wakes watchers for events written by other
# replicas; this longer timeout is only a safety net.
WATCH_POLL_SECONDS = 30.0
# A worker that long-polled for a lease this recently counts as available, for queue ETAs.
WORKER_SEEN_SECONDS = 120.0


@dataclass(frozen=True)
class QueueEstimate:
    position: int  # 1 = next to be taken
    start_seconds: float  # 0 = unknown (no job has finished yet to time)


class JobService:
    def __init__(self, store: JobStore, objects: ObjectStore, hub: EventHub, quotas: QuotaPolicy,
                 audit: AuditLog):
        self.store = store
        self.objects = objects
        self.hub = hub
        self.quotas = quotas
        self.audit = audit

    async def create(self, caller: Principal, *, base_model: str, dataset_id: str, adapter: str,
                     validation_dataset_id: str | None, method: str,
                     hyperparameters: dict[str, Any], include_feedback: bool,
                     idempotency_key: str | None,
                     evaluation: EvaluationOptions = EvaluationOptions()) -> JobRecord:
        check_adapter_name(adapter)
        problem = base_models.check_base_model(base_model)
        if problem:
            raise InvalidArgument(problem)
        tenant = caller.tenant
        await self._check_dataset(tenant, dataset_id, "dataset")
        if validation_dataset_id:
            await self._check_dataset(tenant, validation_dataset_id, "validation_dataset")
        config = _training_config(method, hyperparameters)
        evaluation = evaluation.check()
        for field, dataset in (("evaluation.eval_dataset_id", evaluation.eval_dataset_id),
                               ("evaluation.general_eval_dataset_id", evaluation.general_eval_dataset_id)):
            if dataset:
                await self._check_dataset(tenant, dataset, field)
        await self._check_adapter_base(tenant, adapter, base_model)
        previous = await asyncio.to_thread(self._promoted_version, tenant, adapter)
        if evaluation.warm_start and not previous:
            raise FailedPrecondition(f"evaluation.warm_start needs a published version of {adapter!r} "
                                     "to start from; train its first version without it")
        job_id = new_id("job")
        feedback_key = eval_key = None
        if include_feedback:
            feedback_key, eval_key = await asyncio.to_thread(
                self._snapshot_feedback, tenant, job_id, adapter, evaluation)
        record = JobRecord(
            tenant_id=tenant, id=job_id, state=JobState.QUEUED, base_model=base_model, dataset_id=dataset_id,
            validation_dataset_id=validation_dataset_id or None, adapter=adapter,
            method=config.method, hyperparameters=config.model_dump(exclude={"method"}),
            include_feedback=include_feedback, created_at=time.time(),
            idempotency_key=idempotency_key or None, feedback_key=feedback_key,
            evaluation=evaluation.as_dict(), eval_key=eval_key, previous_version=previous)
        max_active = (await asyncio.to_thread(self.quotas.effective, tenant)).max_concurrent_jobs
        job, created = await asyncio.to_thread(self.store.create_job, record, max_active)
        if created:
            self.hub.queue.fire()
            await self.audit.record(caller, "job.create", job.id, adapter=adapter,
                                    base_model=base_model, dataset_id=dataset_id)
        return job

    async def get(self, caller: Principal, job_id: str) -> JobRecord:
        job = await asyncio.to_thread(self.store.get_job, caller.tenant, job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} not found")
        return job

    async def queue_estimate(self, job: JobRecord) -> QueueEstimate | None:
        """Where a QUEUED job stands, and roughly when a worker will start it."""
        if job.state is not JobState.QUEUED:
            return None
        return await asyncio.to_thread(self._estimate, job)

    def _estimate(self, job: JobRecord) -> QueueEstimate:
        position = self.store.queue_position(job)
        durations = self.store.recent_run_seconds()
        if not durations:
            return QueueEstimate(position, 0.0)
        workers = max(1, self.store.count_workers_seen_since(time.time() - WORKER_SEEN_SECONDS))
        # Assume every worker is busy with a typical job: the job starts after its place in
        # line has come round ceil(position / workers) times.
        return QueueEstimate(position, math.ceil(position / workers) * statistics.median(durations))

    async def list(self, caller: Principal, state: JobState | None) -> list[JobRecord]:
        return await asyncio.to_thread(self.store.list_jobs, caller.tenant, state)

    async def cancel(self, caller: Principal, job_id: str) -> JobRecord:
        job = await asyncio.to_thread(self.store.request_cancel, caller.tenant, job_id)
        if job is None:
            raise NotFound(f"job {job_id!r} not found")
        self.hub.job_changed(job_id)
        await self.audit.record(caller, "job.cancel", job_id, state=job.state.value)
        return job

    async def watch(self, caller: Principal, job_id: str, after_seq: int) -> AsyncIterator[EventRecord]:
        """Yield events after `after_seq` in order; end after the terminal state event."""
        if after_seq < 0:
            raise InvalidArgument("after_seq must be 0 or a seq already seen")
        await self.get(caller, job_id)
        with self.hub.watching(job_id) as signal:
            while True:
                snapshot = signal.snapshot()
                events = await asyncio.to_thread(self.store.list_events, job_id, after_seq)
                for event in events:
                    yield event
                    after_seq = event.seq
                    if event.type is EventType.STATE and event.state.terminal:
                        return
                if not events:
                    job = await self.get(caller, job_id)
                    if job.state.terminal and job.last_seq <= after_seq:
                        return
                    await Signal.wait(snapshot, WATCH_POLL_SECONDS)

    def check_training_request(self, base_model: str, hyperparameters: dict[str, Any]) -> None:
        """What create() checks of the base model and hyperparameters, for retrain policies."""
        problem = base_models.check_base_model(base_model)
        if problem:
            raise InvalidArgument(problem)
        _training_config("lora", hyperparameters)

    async def check_dataset(self, tenant: str, dataset_id: str, field: str) -> None:
        await self._check_dataset(tenant, dataset_id, field)

    async def _check_dataset(self, tenant: str, dataset_id: str, field: str) -> None:
        if not dataset_id:
            raise InvalidArgument(f"{field} is required: upload a file and pass its id")
        dataset = await asyncio.to_thread(self.store.get_dataset, tenant, dataset_id)
        if dataset is None:
            raise NotFound(f"{field} {dataset_id!r} not found; upload it first")
        if dataset.status is not DatasetStatus.READY:
            first = "; ".join(f"line {e.line}: {e.message}" if e.line else e.message
                              for e in dataset.errors[:3])
            raise FailedPrecondition(
                f"{field} {dataset_id!r} is {dataset.status.value}, not ready ({first}); "
                "fix the file and upload it again")

    async def _check_adapter_base(self, tenant: str, adapter: str, base_model: str) -> None:
        latest = await asyncio.to_thread(self.store.get_adapter_version, tenant, adapter)
        if latest is not None and latest.base_model != base_model:
            raise FailedPrecondition(
                f"adapter {adapter!r} was trained on base model {latest.base_model!r}; "
                f"train on that base, or pick a new adapter name for {base_model!r}")

    def _promoted_version(self, tenant: str, adapter: str) -> int:
        """What plain `adapter` serves now (0: nothing published yet)."""
        state = self.store.get_adapter_state(tenant, adapter)
        if state is not None and state.promoted_version:
            return state.promoted_version
        latest = self.store.get_adapter_version(tenant, adapter)
        return latest.version if latest is not None else 0

    def _snapshot_feedback(self, tenant: str, job_id: str, adapter: str,
                           evaluation: EvaluationOptions) -> tuple[str | None, str | None]:
        """Freeze the adapter's corrections into chat JSONL: (training part, held-out part)."""
        feedback = self.store.list_feedback(tenant, adapter)
        if not feedback:
            return None, None
        share = 0.0 if evaluation.eval_dataset_id else evaluation.eval_share
        train, held_out = split_feedback(feedback, share)
        prefix = f"{tenant_prefix(tenant)}/jobs/{job_id}"
        train_key = write_chat_jsonl(self.objects, f"{prefix}/feedback.jsonl", train,
                                     evaluation.feedback_weight)
        eval_key = write_chat_jsonl(self.objects, f"{prefix}/feedback-eval.jsonl", held_out) if held_out else None
        return train_key, eval_key


def _training_config(method: str, hyperparameters: dict[str, Any]) -> TrainingConfig:
    if method not in ("lora", "qlora"):
        raise InvalidArgument(f"method {method!r} is not supported: use \"lora\" or \"qlora\"")
    try:
        return TrainingConfig.model_validate({**hyperparameters, "method": method})
    except ValidationError as exc:
        raise InvalidArgument(config_errors(exc)) from None
