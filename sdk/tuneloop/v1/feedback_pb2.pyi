import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tuneloop.v1 import inference_pb2 as _inference_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "correction", "rating", "note", "messages", "adapter", "scrub_personal_data")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    SCRUB_PERSONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    correction: str
    rating: int
    note: str
    messages: _containers.RepeatedCompositeFieldContainer[_inference_pb2.ChatMessage]
    adapter: str
    scrub_personal_data: bool
    def __init__(self, request_id: _Optional[str] = ..., correction: _Optional[str] = ..., rating: _Optional[int] = ..., note: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_inference_pb2.ChatMessage, _Mapping]]] = ..., adapter: _Optional[str] = ..., scrub_personal_data: _Optional[bool] = ...) -> None: ...

class ImportFeedbackRequest(_message.Message):
    __slots__ = ("adapter", "filename", "content", "scrub_personal_data")
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SCRUB_PERSONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    filename: str
    content: bytes
    scrub_personal_data: bool
    def __init__(self, adapter: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ..., scrub_personal_data: _Optional[bool] = ...) -> None: ...

class FeedbackLineError(_message.Message):
    __slots__ = ("line", "message")
    LINE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    line: int
    message: str
    def __init__(self, line: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ImportFeedbackResponse(_message.Message):
    __slots__ = ("imported", "errors")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    errors: _containers.RepeatedCompositeFieldContainer[FeedbackLineError]
    def __init__(self, imported: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[FeedbackLineError, _Mapping]]] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("id", "request_id", "adapter", "adapter_version", "messages", "output", "correction", "rating", "note", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    adapter: str
    adapter_version: int
    messages: _containers.RepeatedCompositeFieldContainer[_inference_pb2.ChatMessage]
    output: str
    correction: str
    rating: int
    note: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., adapter: _Optional[str] = ..., adapter_version: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[_inference_pb2.ChatMessage, _Mapping]]] = ..., output: _Optional[str] = ..., correction: _Optional[str] = ..., rating: _Optional[int] = ..., note: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListFeedbackRequest(_message.Message):
    __slots__ = ("adapter",)
    ADAPTER_FIELD_NUMBER: _ClassVar[int]
    adapter: str
    def __init__(self, adapter: _Optional[str] = ...) -> None: ...

class ListFeedbackResponse(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: _containers.RepeatedCompositeFieldContainer[Feedback]
    def __init__(self, feedback: _Optional[_Iterable[_Union[Feedback, _Mapping]]] = ...) -> None: ...
