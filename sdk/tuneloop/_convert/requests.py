"""Request builders: plain Python arguments in, protobuf requests out. Local validation
(hyperparameter keys, message shapes, enum values) happens here, before anything is sent."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import types as t
from .._errors import InvalidArgumentError
from ..v1 import adapters_pb2, datasets_pb2, feedback_pb2, inference_pb2, jobs_pb2
from .fields import build_hyperparameters, enum_value

Progress = Callable[[int, int], None]

CHAT_ROLES = ("system", "user", "assistant")


def dataset_id_of(dataset: Any, what: str = "dataset") -> str:
    if isinstance(dataset, t.Dataset):
        return dataset.id
    if isinstance(dataset, str) and dataset:
        return dataset
    raise InvalidArgumentError(f"{what} must be a dataset id or a Dataset, got {dataset!r}")


def upload_requests(
    path: str | os.PathLike[str], name: str | None, chunk_size: int, progress: Progress | None
) -> Iterator[datasets_pb2.UploadDatasetRequest]:
    """Header, then the file in chunks, then the sha256 trailer; never holds the whole file."""
    file = Path(path)
    total = file.stat().st_size
    header = datasets_pb2.UploadHeader(name=name or file.stem, filename=file.name, size_bytes=total)
    yield datasets_pb2.UploadDatasetRequest(header=header)
    digest, sent = hashlib.sha256(), 0
    if progress:
        progress(0, total)
    with file.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
            sent += len(chunk)
            yield datasets_pb2.UploadDatasetRequest(chunk=chunk)
            if progress:
                progress(sent, total)
    trailer = datasets_pb2.UploadTrailer(sha256=digest.hexdigest())
    yield datasets_pb2.UploadDatasetRequest(trailer=trailer)


def get_dataset_request(dataset_id: str) -> datasets_pb2.GetDatasetRequest:
    return datasets_pb2.GetDatasetRequest(dataset_id=dataset_id)


def list_datasets_request() -> datasets_pb2.ListDatasetsRequest:
    return datasets_pb2.ListDatasetsRequest()


def delete_dataset_request(dataset_id: str) -> datasets_pb2.DeleteDatasetRequest:
    return datasets_pb2.DeleteDatasetRequest(dataset_id=dataset_id)


def create_job_request(
    *,
    base_model: str,
    dataset: Any,
    adapter: str,
    validation_dataset: Any,
    method: str,
    hyperparameters: Mapping[str, Any] | None,
    idempotency_key: str,
    include_feedback: bool,
    evaluation: jobs_pb2.JobEvaluation | None = None,
) -> jobs_pb2.CreateJobRequest:
    return jobs_pb2.CreateJobRequest(
        base_model=base_model,
        dataset_id=dataset_id_of(dataset),
        adapter=adapter,
        validation_dataset_id=(
            dataset_id_of(validation_dataset, "validation_dataset") if validation_dataset else ""
        ),
        method=enum_value(jobs_pb2.Method, "METHOD_", method, "method"),
        hyperparameters=build_hyperparameters(hyperparameters),
        idempotency_key=idempotency_key,
        include_feedback=include_feedback,
        evaluation=evaluation,
    )


def get_job_request(job_id: str) -> jobs_pb2.GetJobRequest:
    return jobs_pb2.GetJobRequest(job_id=job_id)


def list_jobs_request(state: str | None) -> jobs_pb2.ListJobsRequest:
    if state is None:
        return jobs_pb2.ListJobsRequest()
    return jobs_pb2.ListJobsRequest(
        state=enum_value(jobs_pb2.JobState, "JOB_STATE_", state, "job state")
    )


def cancel_job_request(job_id: str) -> jobs_pb2.CancelJobRequest:
    return jobs_pb2.CancelJobRequest(job_id=job_id)


def watch_job_request(job_id: str, after_seq: int) -> jobs_pb2.WatchJobRequest:
    return jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq)


def get_adapter_request(name: str) -> adapters_pb2.GetAdapterRequest:
    return adapters_pb2.GetAdapterRequest(name=name)


def list_adapters_request() -> adapters_pb2.ListAdaptersRequest:
    return adapters_pb2.ListAdaptersRequest()


def delete_adapter_request(name: str) -> adapters_pb2.DeleteAdapterRequest:
    return adapters_pb2.DeleteAdapterRequest(name=name)


def _chat_messages(messages: Any) -> list[inference_pb2.ChatMessage]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise InvalidArgumentError(
            'messages must be a non-empty list of {"role": ..., "content": ...} dicts'
        )
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or set(m) != {"role", "content"}:
            raise InvalidArgumentError(
                f'messages[{i}] must be a dict with exactly the keys "role" and "content", '
                f"got {m!r}"
            )
        if m["role"] not in CHAT_ROLES or not isinstance(m["content"], str):
            raise InvalidArgumentError(
                f"messages[{i}]: role must be one of {', '.join(CHAT_ROLES)} and content a "
                f"string, got role={m['role']!r} content of type {type(m['content']).__name__}"
            )
        out.append(inference_pb2.ChatMessage(role=m["role"], content=m["content"]))
    return out


def generate_request(
    *, model: str, messages: Any, max_tokens: int, temperature: float,
    top_p: float | None, seed: int | None,
) -> inference_pb2.GenerateRequest:
    # Optional fields stay unset (not 0) when not given, so the server applies its default.
    optional = {k: v for k, v in (("top_p", top_p), ("seed", seed)) if v is not None}
    return inference_pb2.GenerateRequest(
        model=model, messages=_chat_messages(messages), max_tokens=max_tokens,
        temperature=temperature, **optional,
    )


def submit_feedback_request(
    *, request_id: str, correction: str, rating: int | None, note: str,
    messages: Sequence[Mapping[str, str]] | None = None, adapter: str = "",
    scrub_personal_data: bool = False,
) -> feedback_pb2.SubmitFeedbackRequest:
    optional = {"rating": rating} if rating is not None else {}
    return feedback_pb2.SubmitFeedbackRequest(
        request_id=request_id, correction=correction, note=note, adapter=adapter,
        messages=[inference_pb2.ChatMessage(role=m["role"], content=m["content"])
                  for m in messages or ()],
        scrub_personal_data=scrub_personal_data, **optional
    )


def list_feedback_request(adapter: str | None) -> feedback_pb2.ListFeedbackRequest:
    return feedback_pb2.ListFeedbackRequest(adapter=adapter or "")
