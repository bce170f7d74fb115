"""Typed errors: one class per gRPC status, all built in one place (`error_from_rpc`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from .types import Job

__all__ = [
    "TuneloopError",
    "CancelledError",
    "InvalidArgumentError",
    "DeadlineExceededError",
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "FailedPreconditionError",
    "UnimplementedError",
    "InternalError",
    "UnavailableError",
    "UnauthenticatedError",
    "JobFailedError",
    "WaitTimeoutError",
    "error_from_rpc",
]


class TuneloopError(Exception):
    """Base of every error the SDK raises.

    `code` is the gRPC status (None for errors that did not come from a status, such as
    `JobFailedError`); `message` is the server's human message, which says what to fix.
    """

    default_code: grpc.StatusCode | None = None

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        trailing_metadata: tuple[tuple[str, str | bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.trailing_metadata = trailing_metadata

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return f"{self.code.name}: {self.message}"


class CancelledError(TuneloopError):
    """The call was cancelled (gRPC CANCELLED); unrelated to `asyncio.CancelledError`."""

    default_code = grpc.StatusCode.CANCELLED


class InvalidArgumentError(TuneloopError):
    default_code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceededError(TuneloopError):
    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFoundError(TuneloopError):
    default_code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(TuneloopError):
    default_code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(TuneloopError):
    default_code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(TuneloopError):
    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(TuneloopError):
    default_code = grpc.StatusCode.FAILED_PRECONDITION


class UnimplementedError(TuneloopError):
    """The server does not know this call: usually a server older than the SDK."""

    default_code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(TuneloopError):
    default_code = grpc.StatusCode.INTERNAL


class UnavailableError(TuneloopError):
    """The server could not be reached; the SDK already retried before raising this."""

    default_code = grpc.StatusCode.UNAVAILABLE


class UnauthenticatedError(TuneloopError):
    default_code = grpc.StatusCode.UNAUTHENTICATED


class JobFailedError(TuneloopError):
    """Raised by `jobs.wait` when the job ends FAILED or CANCELLED; `.job` is the final Job."""

    def __init__(self, job: Job) -> None:
        reason = job.error or ("cancelled" if job.state == "cancelled" else "no reason given")
        super().__init__(f"job {job.id} ended {job.state}: {reason}")
        self.job = job


class WaitTimeoutError(DeadlineExceededError, TimeoutError):
    """Raised by `jobs.wait` when the job is still not done after `timeout` seconds.

    The job keeps running on the server; wait again or cancel it.
    """

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"job {job_id} not finished after {timeout:g} s; it keeps running")
        self.job_id = job_id
        self.timeout = timeout


# Codes absent from this table (UNKNOWN, ABORTED, OUT_OF_RANGE, DATA_LOSS) become a plain
# TuneloopError: the SDK has nothing more specific to tell the caller about them.
_CLASS_BY_CODE: dict[grpc.StatusCode, type[TuneloopError]] = {
    cls.default_code: cls
    for cls in (
        CancelledError,
        InvalidArgumentError,
        DeadlineExceededError,
        NotFoundError,
        AlreadyExistsError,
        PermissionDeniedError,
        ResourceExhaustedError,
        FailedPreconditionError,
        UnimplementedError,
        InternalError,
        UnavailableError,
        UnauthenticatedError,
    )
    if cls.default_code is not None
}


def error_from_rpc(err: grpc.RpcError) -> TuneloopError:
    """Build the typed error for a failed call (sync `grpc.RpcError` or `grpc.aio.AioRpcError`)."""
    code_fn = getattr(err, "code", None)
    code = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    details_fn = getattr(err, "details", None)
    message = (details_fn() if callable(details_fn) else None) or str(code.name).lower()
    trailing_fn = getattr(err, "trailing_metadata", None)
    trailing = tuple(trailing_fn() or ()) if callable(trailing_fn) else ()
    cls = _CLASS_BY_CODE.get(code, TuneloopError)
    return cls(message, code=code, trailing_metadata=trailing)
