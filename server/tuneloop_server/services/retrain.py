"""Retrain policies: an adapter retrains itself after N new corrections or on a schedule.

The job a policy starts trains the policy's dataset plus every correction of the adapter,
evaluates the new version, and promotes it only if it passes the gate (see job_evaluation).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..auth.principal import Principal
from ..errors import InvalidArgument, NotFound
from ..store import JobStore
from ..store.records import AdapterState, JobState, KeyKind
from .audit import AuditLog
from .job_evaluation import EvaluationOptions
from .jobs import JobService
from .naming import check_adapter_name

log = logging.getLogger(__name__)
POLICY_ACTOR = "retrain-policy"  # the audit log's actor for jobs a policy starts


@dataclass(frozen=True)
class RetrainPolicy:
    adapter: str
    dataset_id: str
    base_model: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    after_corrections: int = 0
    every_seconds: float = 0.0
    evaluation: EvaluationOptions = EvaluationOptions()
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "evaluation": self.evaluation.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RetrainPolicy":
        return cls(**{**data, "evaluation": EvaluationOptions.from_dict(data.get("evaluation"))})


class RetrainService:
    def __init__(self, store: JobStore, jobs: JobService, audit: AuditLog):
        self.store = store
        self.jobs = jobs
        self.audit = audit

    async def set_policy(self, caller: Principal, policy: RetrainPolicy) -> RetrainPolicy:
        check_adapter_name(policy.adapter)
        if policy.after_corrections < 0 or policy.every_seconds < 0:
            raise InvalidArgument("after_corrections and every_seconds must not be negative")
        if policy.enabled and not (policy.after_corrections or policy.every_seconds):
            raise InvalidArgument("set after_corrections or every_seconds (or disable the policy)")
        if policy.every_seconds and policy.every_seconds < 60 and not policy.after_corrections:
            log.info("retrain policy of %s runs every %.0f s", policy.adapter, policy.every_seconds)
        await self.jobs.check_dataset(caller.tenant, policy.dataset_id, "dataset_id")
        base = policy.base_model or await self._adapter_base(caller.tenant, policy.adapter)
        policy = replace(policy, base_model=base, evaluation=policy.evaluation.check())
        self.jobs.check_training_request(base, policy.hyperparameters)
        await asyncio.to_thread(self.store.set_retrain_policy, caller.tenant, policy.adapter,
                                policy.as_dict())
        await self.audit.record(caller, "adapter.retrain_policy", policy.adapter,
                                after_corrections=policy.after_corrections,
                                every_seconds=policy.every_seconds, enabled=policy.enabled)
        return policy

    async def get_policy(self, caller: Principal, adapter: str) -> RetrainPolicy:
        state = await asyncio.to_thread(self.store.get_adapter_state, caller.tenant, adapter)
        if state is None or not state.retrain_policy:
            raise NotFound(f"adapter {adapter!r} has no retrain policy")
        return RetrainPolicy.from_dict(state.retrain_policy)

    async def on_new_feedback(self, tenant: str, adapter: str | None) -> None:
        """After corrections arrive: start a job if the adapter's policy says it is time."""
        if not adapter:
            return
        state = await asyncio.to_thread(self.store.get_adapter_state, tenant, adapter)
        if state is None or not state.retrain_policy:
            return
        policy = RetrainPolicy.from_dict(state.retrain_policy)
        count = await asyncio.to_thread(self.store.count_feedback, tenant, adapter)
        if policy.enabled and policy.after_corrections and \
                count - state.policy_feedback_seen >= policy.after_corrections:
            await self._start(state, policy, count, f"{count - state.policy_feedback_seen} new corrections")

    async def run_schedules_forever(self, interval: float = 10.0) -> None:
        while True:
            try:
                await self._run_due_schedules()
            except Exception:
                log.exception("retrain scheduler failed; retrying")
            await asyncio.sleep(interval)

    async def _run_due_schedules(self) -> None:
        now = time.time()
        for state in await asyncio.to_thread(self.store.list_retrain_policies):
            policy = RetrainPolicy.from_dict(state.retrain_policy or {})
            due = (state.policy_last_run or 0) + policy.every_seconds <= now
            if not (policy.enabled and policy.every_seconds and due):
                continue
            count = await asyncio.to_thread(self.store.count_feedback, state.tenant_id, state.name)
            if count > state.policy_feedback_seen:
                await self._start(state, policy, count, f"schedule (every {policy.every_seconds:g} s)")

    async def _start(self, state: AdapterState, policy: RetrainPolicy, count: int, reason: str) -> None:
        active = await asyncio.to_thread(self.store.list_jobs, state.tenant_id, None)
        if any(j.adapter == state.name and j.state in (JobState.QUEUED, JobState.RUNNING)
               for j in active):
            return  # one retrain at a time; the corrections wait for the next
        actor = Principal(POLICY_ACTOR, KeyKind.USER, state.tenant_id)
        job = await self.jobs.create(
            actor, base_model=policy.base_model, dataset_id=policy.dataset_id, adapter=state.name,
            validation_dataset_id=None, method="lora", hyperparameters=policy.hyperparameters,
            include_feedback=True, idempotency_key=f"retrain:{state.name}:{count}",
            evaluation=policy.evaluation)
        await asyncio.to_thread(self.store.mark_policy_run, state.tenant_id, state.name, count, time.time())
        log.info("retrain policy of %s started %s (%s)", state.name, job.id, reason)

    async def _adapter_base(self, tenant: str, adapter: str) -> str:
        latest = await asyncio.to_thread(self.store.get_adapter_version, tenant, adapter)
        if latest is None:
            raise InvalidArgument(f"base_model is required: adapter {adapter!r} has no version yet")
        return latest.base_model
