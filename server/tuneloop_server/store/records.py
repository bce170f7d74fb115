"""Plain records the store hands to the domain layer (no ORM objects, no protobuf)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class EventType(str, enum.Enum):
    STATE = "state"
    METRICS = "metrics"
    EVAL = "eval"
    CHECKPOINT = "checkpoint"
    LOG = "log"
    ADAPTER_READY = "adapter_ready"


class DatasetStatus(str, enum.Enum):
    PROCESSING = "processing"
    READY = "ready"
    INVALID = "invalid"


@dataclass(frozen=True)
class LineError:
    line: int
    message: str


@dataclass(frozen=True)
class DatasetRecord:
    tenant_id: str
    id: str
    name: str
    status: DatasetStatus
    format: str | None
    num_examples: int
    sha256: str
    size_bytes: int
    object_key: str
    errors: list[LineError]
    created_at: float


@dataclass(frozen=True)
class JobRecord:
    tenant_id: str
    id: str
    state: JobState
    base_model: str
    dataset_id: str
    validation_dataset_id: str | None
    adapter: str
    method: str
    hyperparameters: dict[str, Any]
    include_feedback: bool
    created_at: float
    idempotency_key: str | None = None
    feedback_key: str | None = None
    adapter_version: int = 0
    cancel_requested: bool = False
    error: str = ""
    step: int = 0
    total_steps: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    attempt: int = 0
    worker_id: str | None = None
    lease_expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    last_seq: int = 0
    # Evaluation and promotion (see EvaluationOptions for `evaluation`'s keys).
    evaluation: dict[str, Any] = field(default_factory=dict)
    eval_key: str | None = None  # held-out corrections the worker evaluates on
    previous_version: int = 0  # the promoted version when the job was created
    eval_scores: dict[str, float] = field(default_factory=dict)
    promoted: bool = False
    promotion_note: str = ""


@dataclass(frozen=True)
class NewEvent:
    """An event before the store gives it a seq."""

    type: EventType
    step: int = 0
    total_steps: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class EventRecord:
    job_id: str
    seq: int
    type: EventType
    state: JobState
    step: int
    total_steps: int
    metrics: dict[str, float]
    message: str
    created_at: float


@dataclass(frozen=True)
class AdapterVersionRecord:
    tenant_id: str
    name: str
    version: int
    base_model: str
    job_id: str
    object_key: str
    created_at: float


@dataclass(frozen=True)
class RequestLogRecord:
    tenant_id: str
    id: str
    model: str
    adapter: str | None
    adapter_version: int
    base_model: str
    messages: list[dict[str, str]]
    output: str
    prompt_tokens: int
    completion_tokens: int
    created_at: float


@dataclass(frozen=True)
class FeedbackRecord:
    tenant_id: str
    id: str
    request_id: str
    adapter: str | None
    adapter_version: int
    messages: list[dict[str, str]]
    output: str
    correction: str
    rating: int | None
    note: str
    created_at: float


@dataclass(frozen=True)
class Quotas:
    """Per-tenant limits; None on a tenant row means "the server's default"."""

    max_concurrent_jobs: int | None = None
    max_stored_bytes: int | None = None
    requests_per_second: int | None = None


@dataclass(frozen=True)
class TenantRecord:
    id: str
    name: str
    quotas: Quotas
    created_at: float


class KeyKind(str, enum.Enum):
    USER = "user"      # a tenant's API key: the public API, scoped to that tenant
    WORKER = "worker"  # a training worker's token: WorkerService only
    ADMIN = "admin"    # tenants, keys, quotas and the audit log: AdminService only


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    kind: KeyKind
    tenant_id: str | None  # only user keys belong to a tenant
    name: str
    secret_hash: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class AuditRecord:
    tenant_id: str | None
    actor: str  # the id of the key that acted
    action: str  # "job.create", "adapter.delete", "key.revoke", ...
    resource: str
    detail: dict[str, Any]
    created_at: float
    id: int = 0


@dataclass(frozen=True)
class AdapterState:
    """Per adapter name: which version plain `name` serves, and its retrain policy."""

    tenant_id: str
    name: str
    promoted_version: int | None = None
    retrain_policy: dict[str, Any] | None = None
    # Corrections counted when the policy last started a job, and when that was.
    policy_feedback_seen: int = 0
    policy_last_run: float | None = None


@dataclass(frozen=True)
class Promotion:
    """The evaluation gate's verdict on a new version, written when the job finishes."""

    promote: bool
    note: str
    scores: dict[str, float] = field(default_factory=dict)
