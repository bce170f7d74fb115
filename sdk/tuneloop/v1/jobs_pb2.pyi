import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_LORA: _ClassVar[Method]
    METHOD_QLORA: _ClassVar[Method]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_STATE: _ClassVar[EventType]
    EVENT_TYPE_METRICS: _ClassVar[EventType]
    EVENT_TYPE_EVAL: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT: _ClassVar[EventType]
    EVENT_TYPE_LOG: _ClassVar[EventType]
    EVENT_TYPE_ADAPTER_READY: _ClassVar[EventType]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
METHOD_UNSPECIFIED: Method
METHOD_LORA: Method
METHOD_QLORA: Method
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_STATE: EventType
EVENT_TYPE_METRICS: EventType
EVENT_TYPE_EVAL: EventType
EVENT_TYPE_CHECKPOINT: EventType
EVENT_TYPE_LOG: EventType
EVENT_TYPE_ADAPTER_READY: EventType

class Hyperparameters(_message.Message):
    __slots__ = ("epochs", "learning_rate", "lora_rank", "lora_alpha", "lora_dropout", "batch_size", "gradient_accumulation_steps", "max_seq_length", "warmup_ratio", "weight_decay", "max_grad_norm", "seed", "eval_every_steps", "checkpoint_every_steps", "target_modules")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    LORA_RANK_FIELD_NUMBER: _ClassVar[int]
    LORA_ALPHA_FIELD_NUMBER: _ClassVar[int]
    LORA_DROPOUT_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_ACCUMULATION_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQ_LENGTH_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    MAX_GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EVAL_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_STEPS_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    learning_rate: float
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    seed: int
    eval_every_steps: int
    checkpoint_every_steps: int
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, epochs: _Optional[int] = ..., learning_rate: _Optional[float] = ..., lora_rank: _Optional[int] = ..., lora_alpha: _Optional[float] = ..., lora_dropout: _Optional[float] = ..., batch_size: _Optional[int] = ..., gradient_accumulation_steps: _Optional[int] = ..., max_seq_length: _Optional[int] = ..., warmup_ratio: _Optional[float] = ..., weight_decay: _Optional[float] = ..., max_grad_norm: _Optional[float] = ..., seed: _Optional[int] = ..., eval_every_steps: _Optional[int] = ..., checkpoint_every_steps: _Optional[int] = ..., target_modules: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateJobRequest(_message.Message):
    __slots__ = ("base_model", "dataset_id", "adapter", "validation_dataset_id", "method", "hyperparameters", "idempotency_key", "include_feedback", "evaluation")
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    base_model: str
    dataset_id: str
    adapter: str
    validation_dataset_id: str
    method: Method
    hyperparameters: Hyperparameters
    idempotency_key: str
    include_feedback: bool
    evaluation: JobEvaluation
    def __init__(self, base_model: _Optional[str] = ..., dataset_id: _Optional[str] = ..., adapter: _Optional[str] = ..., validation_dataset_id: _Optional[str] = ..., method: _Optional[_Union[Method, str]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., include_feedback: _Optional[bool] = ..., evaluation: _Optional[_Union[JobEvaluation, _Mapping]] = ...) -> None: ...

class JobEvaluation(_message.Message):
    __slots__ = ("eval_dataset_id", "eval_share", "promotion_threshold", "warm_start", "feedback_weight", "general_eval_dataset_id")
    EVAL_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    EVAL_SHARE_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WARM_START_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    GENERAL_EVAL_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    eval_dataset_id: str
    eval_share: float
    promotion_threshold: float
    warm_start: bool
    feedback_weight: int
    general_eval_dataset_id: str
    def __init__(self, eval_dataset_id: _Optional[str] = ..., eval_share: _Optional[float] = ..., promotion_threshold: _Optional[float] = ..., warm_start: _Optional[bool] = ..., feedback_weight: _Optional[int] = ..., general_eval_dataset_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "state", "base_model", "dataset_id", "validation_dataset_id", "adapter", "adapter_version", "method", "hyperparameters", "include_feedback", "cancel_requested", "error", "step", "total_steps", "metrics", "attempt", "created_at", "started_at", "finished_at", "queue_position", "estimated_start_seconds", "evaluation", "eval_scores", "promoted", "promotion_note", "previous_version")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class EvalScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    EVAL_SCORES_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_NOTE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: JobState
    base_model: str
    dataset_id: str
    validation_dataset_id: str
    adapter: str
    adapter_version: int
    method: Method
    hyperparameters: Hyperparameters
    include_feedback: bool
    cancel_requested: bool
    error: str
    step: int
    total_steps: int
    metrics: _containers.ScalarMap[str, float]
    attempt: int
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    queue_position: int
    estimated_start_seconds: float
    evaluation: JobEvaluation
    eval_scores: _containers.ScalarMap[str, float]
    promoted: bool
    promotion_note: str
    previous_version: int
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., base_model: _Optional[str] = ..., dataset_id: _Optional[str] = ..., validation_dataset_id: _Optional[str] = ..., adapter: _Optional[str] = ..., adapter_version: _Optional[int] = ..., method: _Optional[_Union[Method, str]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., include_feedback: _Optional[bool] = ..., cancel_requested: _Optional[bool] = ..., error: _Optional[str] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., attempt: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., queue_position: _Optional[int] = ..., estimated_start_seconds: _Optional[float] = ..., evaluation: _Optional[_Union[JobEvaluation, _Mapping]] = ..., eval_scores: _Optional[_Mapping[str, float]] = ..., promoted: _Optional[bool] = ..., promotion_note: _Optional[str] = ..., previous_version: _Optional[int] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("seq", "job_id", "type", "state", "step", "total_steps", "metrics", "message", "created_at")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SEQ_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    job_id: str
    type: EventType
    state: JobState
    step: int
    total_steps: int
    metrics: _containers.ScalarMap[str, float]
    message: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., job_id: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., state: _Optional[_Union[JobState, str]] = ..., step: _Optional[int] = ..., total_steps: _Optional[int] = ..., metrics: _Optional[_Mapping[str, float]] = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    def __init__(self, state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_seq")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_seq: int
    def __init__(self, job_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...
