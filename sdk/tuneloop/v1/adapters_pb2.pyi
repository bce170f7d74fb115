import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneloop.v1 import jobs_pb2 as _jobs_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdapterVersion(_message.Message):
    __slots__ = ("version", "job_id", "created_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    version: int
    job_id: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[int] = ..., job_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Adapter(_message.Message):
    __slots__ = ("name", "base_model", "latest_version", "versions", "created_at", "promoted_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_model: str
    latest_version: int
    versions: _containers.RepeatedCompositeFieldContainer[AdapterVersion]
    created_at: _timestamp_pb2.Timestamp
    promoted_version: int
    def __init__(self, name: _Optional[str] = ..., base_model: _Optional[str] = ..., latest_version: _Optional[int] = ..., versions: _Optional[_Iterable[_Union[AdapterVersion, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., promoted_version: _Optional[int] = ...) -> None: ...

class PromoteAdapterRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class RetrainPolicy(_message.Message):
    __slots__ = ("adapter", "dataset_id", "base_model", "hyperparameters", "after_corrections", "every_seconds", "evaluation", "enabled")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    AFTER_CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    EVERY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    dataset_id: str
    base_model: str
    hyperparameters: _jobs_pb2.Hyperparameters
    after_corrections: int
    every_seconds: float
    evaluation: _jobs_pb2.JobEvaluation
    enabled: bool
    def __init__(self, adapter: _Optional[str] = ..., dataset_id: _Optional[str] = ..., base_model: _Optional[str] = ..., hyperparameters: _Optional[_Union[_jobs_pb2.Hyperparameters, _Mapping]] = ..., after_corrections: _Optional[int] = ..., every_seconds: _Optional[float] = ..., evaluation: _Optional[_Union[_jobs_pb2.JobEvaluation, _Mapping]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class GetRetrainPolicyRequest(_message.Message):
    __slots__ = ("adapter",)
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    def __init__(self, adapter: _Optional[str] = ...) -> None: ...

class ListAdaptersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAdaptersResponse(_message.Message):
    __slots__ = ("adapters",)
    ADAPTERS_FIELD_NUMBER: _ClassVar[int]
    adapters: _containers.RepeatedCompositeFieldContainer[Adapter]
    def __init__(self, adapters: _Optional[_Iterable[_Union[Adapter, _Mapping]]] = ...) -> None: ...

class GetAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAdapterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAdapterResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
