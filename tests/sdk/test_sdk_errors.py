"""Every gRPC status reaches the caller as its own error class, with the server's message."""

from __future__ import annotations

import grpc
import pytest

import tuneloop
from tuneloop._errors import error_from_rpc

CASES = [
    (grpc.StatusCode.NOT_FOUND, tuneloop.NotFoundError),
    (grpc.StatusCode.INVALID_ARGUMENT, tuneloop.InvalidArgumentError),
    (grpc.StatusCode.ALREADY_EXISTS, tuneloop.AlreadyExistsError),
    (grpc.StatusCode.PERMISSION_DENIED, tuneloop.PermissionDeniedError),
    (grpc.StatusCode.UNAUTHENTICATED, tuneloop.UnauthenticatedError),
    (grpc.StatusCode.FAILED_PRECONDITION, tuneloop.FailedPreconditionError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, tuneloop.ResourceExhaustedError),
    (grpc.StatusCode.UNAVAILABLE, tuneloop.UnavailableError),
    (grpc.StatusCode.DEADLINE_EXCEEDED, tuneloop.DeadlineExceededError),
    (grpc.StatusCode.CANCELLED, tuneloop.CancelledError),
    (grpc.StatusCode.INTERNAL, tuneloop.InternalError),
    (grpc.StatusCode.UNIMPLEMENTED, tuneloop.UnimplementedError),
]


@pytest.mark.parametrize(("code", "cls"), CASES, ids=[c.name for c, _ in CASES])
def test_status_maps_to_its_class_with_message(state, address, code, cls):
    message = f"{code.name.lower()}: fix the thing on line 3"
    state.faults["GetAdapter"].append((code, message))
    with tuneloop.Client(address, max_retries=0) as client:
        with pytest.raises(cls) as info:
            client.adapters.get("support")
    assert type(info.value) is cls
    assert isinstance(info.value, tuneloop.TuneloopError)
    assert info.value.code == code
    assert info.value.message == message
    assert state.calls["GetAdapter"] == 1


def test_unmapped_status_is_plain_tuneloop_error(state, client):
    state.faults["ListAdapters"].append((grpc.StatusCode.DATA_LOSS, "disk went away"))
    with pytest.raises(tuneloop.TuneloopError) as info:
        client.adapters.list()
    assert type(info.value) is tuneloop.TuneloopError
    assert info.value.code == grpc.StatusCode.DATA_LOSS
    assert str(info.value) == "DATA_LOSS: disk went away"


def test_real_not_found_from_handler(client):
    with pytest.raises(tuneloop.NotFoundError, match="adapter 'nope' not found"):
        client.adapters.get("nope")


def test_error_from_rpc_reads_code_and_details():
    class FakeRpcError(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.PERMISSION_DENIED

        def details(self):
            return "key lacks the jobs:write scope"

        def trailing_metadata(self):
            return (("x-request-id", "r-1"),)

    err = error_from_rpc(FakeRpcError())
    assert isinstance(err, tuneloop.PermissionDeniedError)
    assert err.message == "key lacks the jobs:write scope"
    assert err.trailing_metadata == (("x-request-id", "r-1"),)


def test_wait_errors_fit_the_hierarchy():
    timeout = tuneloop.WaitTimeoutError("job-9", 1.5)
    assert isinstance(timeout, tuneloop.DeadlineExceededError)
    assert isinstance(timeout, TimeoutError)
    assert timeout.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "job-9" in timeout.message and "1.5" in timeout.message
