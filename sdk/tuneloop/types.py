"""Typed results of the SDK. Plain frozen dataclasses: no protobuf types leak out of here.

Enumerations are lowercase strings:
  job state       "queued" | "running" | "succeeded" | "failed" | "cancelled"
  event type      "state" | "metrics" | "eval" | "checkpoint" | "log" | "adapter_ready"
  method          "lora" | "qlora"
  dataset status  "processing" | "ready" | "invalid"
A value this SDK does not know yet (a newer server) reads as "unknown".
Timestamps are timezone-aware UTC datetimes, or None when the server has not set them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "JobState",
    "EventType",
    "Method",
    "DatasetStatus",
    "TERMINAL_STATES",
    "DatasetError",
    "Dataset",
    "Job",
    "JobEvent",
    "AdapterVersion",
    "Adapter",
    "Usage",
    "Completion",
    "CompletionChunk",
    "Feedback",
    "KeyKind",
    "Quotas",
    "Tenant",
    "ApiKey",
    "CreatedApiKey",
    "AuditEvent",
    "RetrainPolicy",
    "FeedbackImport",
]

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
EventType = Literal["state", "metrics", "eval", "checkpoint", "log", "adapter_ready"]
Method = Literal["lora", "qlora"]
DatasetStatus = Literal["processing", "ready", "invalid"]

TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class DatasetError:
    """One problem in an uploaded file; `line` is 1-based, 0 when about the whole file."""

    line: int
    message: str


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    status: str
    num_examples: int
    sha256: str
    size_bytes: int
    format: str
    errors: list[DatasetError] = field(default_factory=list)
    created_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    base_model: str
    dataset_id: str
    validation_dataset_id: str
    adapter: str
    adapter_version: int
    method: str
    # Only the values the server reports as set; `target_modules` is a list of strings.
    hyperparameters: dict[str, Any]
    include_feedback: bool
    cancel_requested: bool
    error: str
    step: int
    total_steps: int
    metrics: dict[str, float]
    attempt: int
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # While queued: 1 = next to start; and a rough wait in seconds (0 = not known yet).
    queue_position: int = 0
    estimated_start_seconds: float = 0.0
    # Evaluation options, scores ("new.exact_match", "previous.token_f1", "general.new.loss", ...),
    # and whether the published version became the one plain `adapter` serves, and why (not).
    evaluation: dict[str, Any] = field(default_factory=dict)
    eval_scores: dict[str, float] = field(default_factory=dict)
    promoted: bool = False
    promotion_note: str = ""
    previous_version: int = 0  # the promoted version the new one was compared with

    @property
    def done(self) -> bool:
        """True once the job is succeeded, failed or cancelled."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class JobEvent:
    seq: int
    type: str
    state: str
    step: int
    total_steps: int
    metrics: dict[str, float]
    message: str
    created_at: datetime | None = None
    job_id: str = ""


@dataclass(frozen=True)
class AdapterVersion:
    version: int
    job_id: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Adapter:
    name: str
    base_model: str
    latest_version: int  # the newest published version
    versions: list[AdapterVersion] = field(default_factory=list)
    created_at: datetime | None = None
    promoted_version: int = 0  # the version plain `name` serves


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    text: str
    request_id: str
    usage: Usage
    # What `model` resolved to, e.g. "support@v2".
    model: str
    finish_reason: str


@dataclass(frozen=True)
class CompletionChunk:
    text: str
    request_id: str
    model: str
    # Set on the last chunk only (empty / None before).
    finish_reason: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class Feedback:
    id: str
    request_id: str
    # Adapter and version that produced `output`; empty / 0 for base-model calls.
    adapter: str
    adapter_version: int
    messages: list[dict[str, str]]
    output: str
    correction: str
    rating: int | None
    note: str
    created_at: datetime | None = None


# -- admin (AdminService; needs an admin key) ------------------------------------------------

KeyKind = Literal["user", "worker", "admin"]


@dataclass(frozen=True)
class Quotas:
    """A tenant's limits; None means unlimited (in force) or "keep / use the default" (in requests)."""

    max_concurrent_jobs: int | None = None
    max_stored_bytes: int | None = None
    requests_per_second: int | None = None


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    quotas: Quotas
    created_at: datetime | None


@dataclass(frozen=True)
class ApiKey:
    id: str
    kind: str  # KeyKind, or "unknown"
    tenant_id: str
    name: str
    created_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class CreatedApiKey:
    key: ApiKey
    token: str  # the full key; the server never shows it again


@dataclass(frozen=True)
class AuditEvent:
    id: int
    tenant_id: str
    actor: str
    action: str
    resource: str
    detail: dict[str, Any]
    created_at: datetime | None


# -- the feedback loop ------------------------------------------------------------------------

@dataclass(frozen=True)
class RetrainPolicy:
    """When an adapter retrains itself on its corrections (adapters.set_retrain_policy)."""

    adapter: str
    dataset_id: str
    base_model: str
    hyperparameters: dict[str, Any]
    after_corrections: int  # 0: off
    every_seconds: float  # 0: off
    evaluation: dict[str, Any]
    enabled: bool


@dataclass(frozen=True)
class FeedbackImport:
    """feedback.import_file: all or nothing; with errors, nothing was imported."""

    imported: int
    errors: list[DatasetError] = field(default_factory=list)
