"""Domain errors. Each carries a status code; one interceptor turns them into gRPC statuses.

The domain layer never imports grpc: the codes below are named after gRPC's so the mapping
is by name, and the messages are written for the user who has to fix their request.
"""

from __future__ import annotations

import enum


class Code(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"


class ServiceError(Exception):
    code: Code = Code.FAILED_PRECONDITION

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = Code.INVALID_ARGUMENT


class NotFound(ServiceError):
    code = Code.NOT_FOUND


class AlreadyExists(ServiceError):
    code = Code.ALREADY_EXISTS


class FailedPrecondition(ServiceError):
    code = Code.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    code = Code.RESOURCE_EXHAUSTED


class PermissionDenied(ServiceError):
    code = Code.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = Code.UNAUTHENTICATED


class Unavailable(ServiceError):
    code = Code.UNAVAILABLE


class StaleAttempt(FailedPrecondition):
    """A worker wrote for an attempt that is no longer the job's current one (fencing)."""
