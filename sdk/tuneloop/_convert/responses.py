"""Response converters: protobuf messages in, `tuneloop.types` dataclasses out."""

from __future__ import annotations

from .. import types as t
from ..v1 import adapters_pb2, datasets_pb2, feedback_pb2, inference_pb2, jobs_pb2
from .fields import enum_name, hyperparameters_to_dict, timestamp
from .loop import evaluation_dict


def dataset(m: datasets_pb2.Dataset) -> t.Dataset:
    return t.Dataset(
        id=m.id, name=m.name,
        status=enum_name(datasets_pb2.DatasetStatus, "DATASET_STATUS_", m.status),
        num_examples=m.num_examples, sha256=m.sha256, size_bytes=m.size_bytes, format=m.format,
        errors=[t.DatasetError(line=e.line, message=e.message) for e in m.errors],
        created_at=timestamp(m.created_at, m.HasField("created_at")),
    )


def datasets(m: datasets_pb2.ListDatasetsResponse) -> list[t.Dataset]:
    return [dataset(d) for d in m.datasets]


def job(m: jobs_pb2.Job) -> t.Job:
    return t.Job(
        id=m.id, state=enum_name(jobs_pb2.JobState, "JOB_STATE_", m.state),
        base_model=m.base_model, dataset_id=m.dataset_id,
        validation_dataset_id=m.validation_dataset_id, adapter=m.adapter,
        adapter_version=m.adapter_version,
        method=enum_name(jobs_pb2.Method, "METHOD_", m.method or jobs_pb2.METHOD_LORA),
        hyperparameters=hyperparameters_to_dict(m.hyperparameters),
        include_feedback=m.include_feedback, cancel_requested=m.cancel_requested, error=m.error,
        step=m.step, total_steps=m.total_steps, metrics=dict(m.metrics), attempt=m.attempt,
        created_at=timestamp(m.created_at, m.HasField("created_at")),
        started_at=timestamp(m.started_at, m.HasField("started_at")),
        finished_at=timestamp(m.finished_at, m.HasField("finished_at")),
        queue_position=m.queue_position, estimated_start_seconds=m.estimated_start_seconds,
        evaluation=evaluation_dict(m.evaluation), eval_scores=dict(m.eval_scores),
        promoted=m.promoted, promotion_note=m.promotion_note, previous_version=m.previous_version,
    )


def jobs(m: jobs_pb2.ListJobsResponse) -> list[t.Job]:
    return [job(j) for j in m.jobs]


def job_event(m: jobs_pb2.JobEvent) -> t.JobEvent:
    return t.JobEvent(
        seq=m.seq, type=enum_name(jobs_pb2.EventType, "EVENT_TYPE_", m.type),
        state=enum_name(jobs_pb2.JobState, "JOB_STATE_", m.state), step=m.step,
        total_steps=m.total_steps, metrics=dict(m.metrics), message=m.message,
        created_at=timestamp(m.created_at, m.HasField("created_at")), job_id=m.job_id,
    )


def adapter(m: adapters_pb2.Adapter) -> t.Adapter:
    versions = [
        t.AdapterVersion(v.version, v.job_id, timestamp(v.created_at, v.HasField("created_at")))
        for v in m.versions
    ]
    return t.Adapter(
        name=m.name, base_model=m.base_model, latest_version=m.latest_version, versions=versions,
        created_at=timestamp(m.created_at, m.HasField("created_at")),
        promoted_version=m.promoted_version or m.latest_version,
    )


def adapters(m: adapters_pb2.ListAdaptersResponse) -> list[t.Adapter]:
    return [adapter(a) for a in m.adapters]


def _usage(m: inference_pb2.Usage) -> t.Usage:
    return t.Usage(prompt_tokens=m.prompt_tokens, completion_tokens=m.completion_tokens)


def completion(m: inference_pb2.Completion) -> t.Completion:
    return t.Completion(
        text=m.text, request_id=m.request_id, usage=_usage(m.usage), model=m.model,
        finish_reason=m.finish_reason,
    )


def completion_chunk(m: inference_pb2.CompletionChunk) -> t.CompletionChunk:
    return t.CompletionChunk(
        text=m.text, request_id=m.request_id, model=m.model, finish_reason=m.finish_reason,
        usage=_usage(m.usage) if m.HasField("usage") else None,
    )


def feedback(m: feedback_pb2.Feedback) -> t.Feedback:
    return t.Feedback(
        id=m.id, request_id=m.request_id, adapter=m.adapter, adapter_version=m.adapter_version,
        messages=[{"role": c.role, "content": c.content} for c in m.messages],
        output=m.output, correction=m.correction,
        rating=m.rating if m.HasField("rating") else None, note=m.note,
        created_at=timestamp(m.created_at, m.HasField("created_at")),
    )


def feedback_list(m: feedback_pb2.ListFeedbackResponse) -> list[t.Feedback]:
    return [feedback(f) for f in m.feedback]
