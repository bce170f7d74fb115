from tuneloop.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterWorkerRequest(_message.Message):
    __slots__ = ("name", "accelerator", "memory_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    accelerator: str
    memory_bytes: int
    def __init__(self, name: _Optional[str] = ..., accelerator: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class RegisterWorkerResponse(_message.Message):
    __slots__ = ("worker_id", "lease_seconds", "heartbeat_interval_seconds")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    lease_seconds: float
    heartbeat_interval_seconds: float
    def __init__(self, worker_id: _Optional[str] = ..., lease_seconds: _Optional[float] = ..., heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class LeaseJobRequest(_message.Message):
    __slots__ = ("worker_id", "wait_seconds")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    wait_seconds: float
    def __init__(self, worker_id: _Optional[str] = ..., wait_seconds: _Optional[float] = ...) -> None: ...

class JobAssignment(_message.Message):
    __slots__ = ("job", "attempt", "dataset_key", "validation_dataset_key", "feedback_key", "output_prefix", "checkpoint_prefix", "eval_key", "general_eval_key", "previous_adapter_key", "warm_start")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DATASET_KEY_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_KEY_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_KEY_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_PREFIX_FIELD_NUMBER: _ClassVar[int]
    EVAL_KEY_FIELD_NUMBER: _ClassVar[int]
    GENERAL_EVAL_KEY_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ADAPTER_KEY_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    job: _jobs_pb2.Job
    attempt: int
    dataset_key: str
    validation_dataset_key: str
    feedback_key: str
    output_prefix: str
    checkpoint_prefix: str
    eval_key: str
    general_eval_key: str
    previous_adapter_key: str
    warm_start: bool
    def __init__(self, job: _Optional[_Union[_jobs_pb2.Job, _Mapping]] = ..., attempt: _Optional[int] = ..., dataset_key: _Optional[str] = ..., validation_dataset_key: _Optional[str] = ..., feedback_key: _Optional[str] = ..., output_prefix: _Optional[str] = ..., checkpoint_prefix: _Optional[str] = ..., eval_key: _Optional[str] = ..., general_eval_key: _Optional[str] = ..., previous_adapter_key: _Optional[str] = ..., warm_start: _Optional[bool] = ...) -> None: ...

class LeaseJobResponse(_message.Message):
    __slots__ = ("assignment",)
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    assignment: JobAssignment
    def __init__(self, assignment: _Optional[_Union[JobAssignment, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("worker_id", "job_id", "attempt")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_id: str
    attempt: int
    def __init__(self, worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("cancel_requested",)
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    cancel_requested: bool
    def __init__(self, cancel_requested: _Optional[bool] = ...) -> None: ...

class WorkerEvent(_message.Message):
    __slots__ = ("type", "step", "total_steps", "metrics", "message")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: _jobs_pb2.EventType
    step: int
    total_steps: int
    metrics: _containers.ScalarMap[str, float]
    message: str
    def __init__(self, type: _Optional[_Union[_jobs_pb2.EventType, str]] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., message: _Optional[str] = ...) -> None: ...

class ReportEventsRequest(_message.Message):
    __slots__ = ("worker_id", "job_id", "attempt", "events")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_id: str
    attempt: int
    events: _containers.RepeatedCompositeFieldContainer[WorkerEvent]
    def __init__(self, worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., events: _Optional[_Iterable[_Union[WorkerEvent, _Mapping]]] = ...) -> None: ...

class ReportEventsResponse(_message.Message):
    __slots__ = ("cancel_requested",)
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    cancel_requested: bool
    def __init__(self, cancel_requested: _Optional[bool] = ...) -> None: ...

class CompleteJobRequest(_message.Message):
    __slots__ = ("worker_id", "job_id", "attempt", "adapter_key", "final_metrics")
    class FinalMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_KEY_FIELD_NUMBER: _ClassVar[int]
    FINAL_METRICS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_id: str
    attempt: int
    adapter_key: str
    final_metrics: _containers.ScalarMap[str, float]
    def __init__(self, worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., adapter_key: _Optional[str] = ..., final_metrics: _Optional[_Mapping[str, float]] = ...) -> None: ...

class CompleteJobResponse(_message.Message):
    __slots__ = ("adapter_version",)
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    adapter_version: int
    def __init__(self, adapter_version: _Optional[int] = ...) -> None: ...

class FailJobRequest(_message.Message):
    __slots__ = ("worker_id", "job_id", "attempt", "error", "cancelled", "retryable")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_id: str
    attempt: int
    error: str
    cancelled: bool
    retryable: bool
    def __init__(self, worker_id: _Optional[str] = ..., job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., error: _Optional[str] = ..., cancelled: _Optional[bool] = ..., retryable: _Optional[bool] = ...) -> None: ...

class FailJobResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
