"""tuneloop: the Python SDK of a self-hosted LoRA/QLoRA fine-tuning service.

    from tuneloop import Client
    with Client("localhost:50051") as c:
        ds = c.datasets.upload("train.jsonl", name="support")
        job = c.jobs.create(base_model="smollm2-135m", dataset=ds, adapter="support")
        c.jobs.wait(job.id)
        out = c.inference.generate(model="support", messages=[{"role": "user", "content": "hi"}])
        print(out.text, out.request_id)
"""

from ._client import AsyncClient, Client
from ._errors import (
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TuneloopError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    WaitTimeoutError,
)
from .types import (
    Adapter,
    AdapterVersion,
    Completion,
    CompletionChunk,
    Dataset,
    DatasetError,
    Feedback,
    Job,
    JobEvent,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "TuneloopError",
    "AlreadyExistsError",
    "CancelledError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "JobFailedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "WaitTimeoutError",
    "Adapter",
    "AdapterVersion",
    "Completion",
    "CompletionChunk",
    "Dataset",
    "DatasetError",
    "Feedback",
    "Job",
    "JobEvent",
    "Usage",
]
