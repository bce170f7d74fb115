"""The only server module that touches protobuf messages: records ↔ pb2, in one place."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from tuneloop.v1 import (
    adapters_pb2,
    admin_pb2,
    datasets_pb2,
    feedback_pb2,
    inference_pb2,
    jobs_pb2,
)

from ..services.adapters import AdapterView
from ..services.inference import Sampling
from ..services.job_evaluation import EvaluationOptions
from ..services.jobs import QueueEstimate
from ..services.retrain import RetrainPolicy
from ..errors import InvalidArgument
from ..store.records import (
    ApiKeyRecord,
    AuditRecord,
    DatasetRecord,
    EventRecord,
    EventType,
    FeedbackRecord,
    JobRecord,
    JobState,
    KeyKind,
    Quotas,
    TenantRecord,
)


def timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def job_state_to_pb(state: JobState) -> int:
    return jobs_pb2.JobState.Value(f"JOB_STATE_{state.name}")


def _enum_name(enum: Any, value: int, prefix: str, field: str) -> str:
    """The name of `value` without `prefix`; proto3 enums are open, so reject unknown numbers."""
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:
        known = ", ".join(name.removeprefix(prefix) for name in enum.keys())
        raise InvalidArgument(f"{field} {value} is not a valid {enum.DESCRIPTOR.name}: use one of "
                              f"{known}") from None


def job_state_from_pb(value: int) -> JobState | None:
    if value == jobs_pb2.JOB_STATE_UNSPECIFIED:
        return None
    return JobState[_enum_name(jobs_pb2.JobState, value, "JOB_STATE_", "state")]


def event_type_to_pb(kind: EventType) -> int:
    return jobs_pb2.EventType.Value(f"EVENT_TYPE_{kind.name}")


def event_type_from_pb(value: int) -> EventType:
    name = _enum_name(jobs_pb2.EventType, value, "EVENT_TYPE_", "event type")
    return EventType.LOG if name == "UNSPECIFIED" else EventType[name]


def method_from_pb(value: int) -> str:
    """Unspecified means LoRA; an unknown number is an error, not a silent LoRA."""
    name = _enum_name(jobs_pb2.Method, value, "METHOD_", "method")
    return "lora" if name == "UNSPECIFIED" else name.lower()


def method_to_pb(method: str) -> int:
    return jobs_pb2.METHOD_QLORA if method == "qlora" else jobs_pb2.METHOD_LORA


def hyperparameters_from_pb(msg: jobs_pb2.Hyperparameters) -> dict[str, Any]:
    # Only the fields the caller set: unset ones take the server's defaults.
    return MessageToDict(msg, preserving_proto_field_name=True)


def hyperparameters_to_pb(values: dict[str, Any]) -> jobs_pb2.Hyperparameters:
    msg = jobs_pb2.Hyperparameters()
    for name, value in values.items():
        if name == "target_modules":
            msg.target_modules.extend(value)
        elif name in jobs_pb2.Hyperparameters.DESCRIPTOR.fields_by_name:
            setattr(msg, name, value)
    return msg


def dataset_to_pb(record: DatasetRecord) -> datasets_pb2.Dataset:
    return datasets_pb2.Dataset(
        id=record.id, name=record.name,
        status=datasets_pb2.DatasetStatus.Value(f"DATASET_STATUS_{record.status.name}"),
        num_examples=record.num_examples, sha256=record.sha256, size_bytes=record.size_bytes,
        format=record.format or "",
        errors=[datasets_pb2.DatasetError(line=e.line, message=e.message) for e in record.errors],
        created_at=timestamp(record.created_at))


def job_to_pb(job: JobRecord, queue: QueueEstimate | None = None) -> jobs_pb2.Job:
    return jobs_pb2.Job(
        queue_position=queue.position if queue else 0,
        estimated_start_seconds=queue.start_seconds if queue else 0.0,
        evaluation=evaluation_to_pb(EvaluationOptions.from_dict(job.evaluation)),
        eval_scores=job.eval_scores, promoted=job.promoted, promotion_note=job.promotion_note,
        previous_version=job.previous_version,
        id=job.id, state=job_state_to_pb(job.state), base_model=job.base_model,
        dataset_id=job.dataset_id, validation_dataset_id=job.validation_dataset_id or "",
        adapter=job.adapter, adapter_version=job.adapter_version,
        method=method_to_pb(job.method),
        hyperparameters=hyperparameters_to_pb(job.hyperparameters),
        include_feedback=job.include_feedback, cancel_requested=job.cancel_requested,
        error=job.error, step=job.step, total_steps=job.total_steps, metrics=job.metrics,
        attempt=job.attempt, created_at=timestamp(job.created_at),
        started_at=timestamp(job.started_at), finished_at=timestamp(job.finished_at))


def event_to_pb(event: EventRecord) -> jobs_pb2.JobEvent:
    return jobs_pb2.JobEvent(
        seq=event.seq, job_id=event.job_id, type=event_type_to_pb(event.type),
        state=job_state_to_pb(event.state), step=event.step, total_steps=event.total_steps,
        metrics=event.metrics, message=event.message, created_at=timestamp(event.created_at))


def adapter_to_pb(view: AdapterView) -> adapters_pb2.Adapter:
    return adapters_pb2.Adapter(
        name=view.name, base_model=view.base_model, latest_version=view.latest_version,
        promoted_version=view.promoted_version,
        versions=[adapters_pb2.AdapterVersion(version=v.version, job_id=v.job_id,
                                              created_at=timestamp(v.created_at))
                  for v in view.versions],
        created_at=timestamp(view.versions[0].created_at))


def messages_from_pb(messages: Any) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def messages_to_pb(messages: list[dict[str, str]]) -> list[inference_pb2.ChatMessage]:
    return [inference_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in messages]


def sampling_from_pb(request: inference_pb2.GenerateRequest) -> Sampling:
    return Sampling(
        max_tokens=request.max_tokens, temperature=request.temperature,
        top_p=request.top_p if request.HasField("top_p") else None,
        seed=request.seed if request.HasField("seed") else None)


def usage_to_pb(prompt_tokens: int, completion_tokens: int) -> inference_pb2.Usage:
    return inference_pb2.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def feedback_to_pb(record: FeedbackRecord) -> feedback_pb2.Feedback:
    msg = feedback_pb2.Feedback(
        id=record.id, request_id=record.request_id, adapter=record.adapter or "",
        adapter_version=record.adapter_version, messages=messages_to_pb(record.messages),
        output=record.output, correction=record.correction, note=record.note,
        created_at=timestamp(record.created_at))
    if record.rating is not None:
        msg.rating = record.rating
    return msg


# -- admin -----------------------------------------------------------------------------------

def quotas_from_pb(q: admin_pb2.Quotas) -> Quotas:
    return Quotas(
        max_concurrent_jobs=q.max_concurrent_jobs if q.HasField("max_concurrent_jobs") else None,
        max_stored_bytes=q.max_stored_bytes if q.HasField("max_stored_bytes") else None,
        requests_per_second=q.requests_per_second if q.HasField("requests_per_second") else None)


def tenant_to_pb(tenant: TenantRecord, effective: Quotas) -> admin_pb2.Tenant:
    quotas = admin_pb2.Quotas(**{k: v for k, v in vars(effective).items() if v is not None})
    return admin_pb2.Tenant(id=tenant.id, name=tenant.name, quotas=quotas,
                            created_at=timestamp(tenant.created_at))


def key_kind_from_pb(kind: int) -> KeyKind:
    if kind in (admin_pb2.KEY_KIND_UNSPECIFIED, admin_pb2.KEY_KIND_USER):
        return KeyKind.USER
    if kind == admin_pb2.KEY_KIND_WORKER:
        return KeyKind.WORKER
    if kind == admin_pb2.KEY_KIND_ADMIN:
        return KeyKind.ADMIN
    raise InvalidArgument(f"kind {kind} is not a KeyKind: use USER, WORKER or ADMIN")


def api_key_to_pb(key: ApiKeyRecord) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(
        id=key.id, kind=admin_pb2.KeyKind.Value(f"KEY_KIND_{key.kind.name}"),
        tenant_id=key.tenant_id or "", name=key.name, created_at=timestamp(key.created_at),
        revoked_at=timestamp(key.revoked_at))


def audit_to_pb(entry: AuditRecord) -> admin_pb2.AuditEvent:
    return admin_pb2.AuditEvent(
        id=entry.id, tenant_id=entry.tenant_id or "", actor=entry.actor, action=entry.action,
        resource=entry.resource, detail_json=json.dumps(entry.detail, sort_keys=True),
        created_at=timestamp(entry.created_at))


# -- evaluation, promotion, retrain policies --------------------------------------------------

def evaluation_from_pb(e: jobs_pb2.JobEvaluation) -> EvaluationOptions:
    defaults = EvaluationOptions()
    return EvaluationOptions(
        eval_dataset_id=e.eval_dataset_id,
        eval_share=e.eval_share if e.HasField("eval_share") else defaults.eval_share,
        promotion_threshold=(e.promotion_threshold if e.HasField("promotion_threshold")
                             else defaults.promotion_threshold),
        warm_start=e.warm_start,
        feedback_weight=e.feedback_weight if e.HasField("feedback_weight") else defaults.feedback_weight,
        general_eval_dataset_id=e.general_eval_dataset_id)


def evaluation_to_pb(options: EvaluationOptions) -> jobs_pb2.JobEvaluation:
    return jobs_pb2.JobEvaluation(
        eval_dataset_id=options.eval_dataset_id, eval_share=options.eval_share,
        promotion_threshold=options.promotion_threshold, warm_start=options.warm_start,
        feedback_weight=options.feedback_weight,
        general_eval_dataset_id=options.general_eval_dataset_id)


def retrain_policy_from_pb(p: adapters_pb2.RetrainPolicy) -> RetrainPolicy:
    return RetrainPolicy(
        adapter=p.adapter, dataset_id=p.dataset_id, base_model=p.base_model,
        hyperparameters=hyperparameters_from_pb(p.hyperparameters),
        after_corrections=p.after_corrections, every_seconds=p.every_seconds,
        evaluation=evaluation_from_pb(p.evaluation), enabled=p.enabled)


def retrain_policy_to_pb(policy: RetrainPolicy) -> adapters_pb2.RetrainPolicy:
    return adapters_pb2.RetrainPolicy(
        adapter=policy.adapter, dataset_id=policy.dataset_id, base_model=policy.base_model,
        hyperparameters=hyperparameters_to_pb(policy.hyperparameters),
        after_corrections=policy.after_corrections, every_seconds=policy.every_seconds,
        evaluation=evaluation_to_pb(policy.evaluation), enabled=policy.enabled)
