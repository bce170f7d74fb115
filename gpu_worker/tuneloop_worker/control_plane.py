"""The worker's client for the control plane's WorkerService, with retries and fencing.

UNAVAILABLE (control plane restarting, network blip) is retried with backoff; a
FAILED_PRECONDITION on a job call means this attempt was fenced off and becomes `LeaseLost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import grpc
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential
from tuneloop.v1 import jobs_pb2, worker_pb2, worker_pb2_grpc

T = TypeVar("T")


class LeaseLost(Exception):
    """The control plane gave this job to another attempt; stop without reporting."""


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, grpc.RpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE


_retry = retry(retry=retry_if_exception(_unavailable), wait=wait_random_exponential(0.2, 5),
               stop=stop_after_delay(120), reraise=True)


@dataclass(frozen=True)
class Lease:
    job: jobs_pb2.Job
    attempt: int
    dataset_key: str
    validation_dataset_key: str
    feedback_key: str
    output_prefix: str
    checkpoint_prefix: str
    eval_key: str = ""
    general_eval_key: str = ""
    previous_adapter_key: str = ""
    warm_start: bool = False


# Matches the control plane's limits; keepalive pings every 30 s are within what it allows
# (it accepts pings 10 s apart), and notice a dead control plane during a long lease poll.
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


@dataclass(frozen=True)
class WorkerTLS:
    """TLS towards the control plane: its CA, plus this worker's certificate for mTLS."""

    ca_file: Path | None = None  # None: the system's root certificates
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: Path | None) -> bytes | None:
            return Path(path).read_bytes() if path is not None else None

        return grpc.ssl_channel_credentials(read(self.ca_file), read(self.key_file), read(self.cert_file))


class ControlPlaneClient:
    def __init__(self, address: str, token: str | None, tls: WorkerTLS | None = None):
        if tls is None:
            self.channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.secure_channel(address, tls.credentials(), options=CHANNEL_OPTIONS)
        self.stub = worker_pb2_grpc.WorkerServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {token}")] if token else []
        self.worker_id = ""
        self.heartbeat_seconds = 1.0

    def close(self) -> None:
        self.channel.close()

    @_retry
    def _call(self, method: Callable[..., T], request: Any, timeout: float = 30) -> T:
        return method(request, metadata=self.metadata, timeout=timeout)

    def _job_call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return self._call(method, request)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise LeaseLost(exc.details()) from None
            raise

    def register(self, name: str, accelerator: str, memory_bytes: int) -> None:
        reply = self._call(self.stub.RegisterWorker, worker_pb2.RegisterWorkerRequest(
            name=name, accelerator=accelerator, memory_bytes=memory_bytes))
        self.worker_id = reply.worker_id
        self.heartbeat_seconds = reply.heartbeat_interval_seconds or 1.0

    def lease(self, wait_seconds: float) -> Lease | None:
        reply = self._call(self.stub.LeaseJob, worker_pb2.LeaseJobRequest(
            worker_id=self.worker_id, wait_seconds=wait_seconds), timeout=wait_seconds + 30)
        if not reply.HasField("assignment"):
            return None
        a = reply.assignment
        return Lease(a.job, a.attempt, a.dataset_key, a.validation_dataset_key, a.feedback_key,
                     a.output_prefix, a.checkpoint_prefix, a.eval_key, a.general_eval_key,
                     a.previous_adapter_key, a.warm_start)

    def heartbeat(self, lease: Lease) -> bool:
        reply = self._job_call(self.stub.Heartbeat, worker_pb2.HeartbeatRequest(
            worker_id=self.worker_id, job_id=lease.job.id, attempt=lease.attempt))
        return reply.cancel_requested

    def report(self, lease: Lease, events: list[worker_pb2.WorkerEvent]) -> bool:
        reply = self._job_call(self.stub.ReportEvents, worker_pb2.ReportEventsRequest(
            worker_id=self.worker_id, job_id=lease.job.id, attempt=lease.attempt, events=events))
        return reply.cancel_requested

    def complete(self, lease: Lease, adapter_key: str, metrics: dict[str, float]) -> int:
        reply = self._job_call(self.stub.CompleteJob, worker_pb2.CompleteJobRequest(
            worker_id=self.worker_id, job_id=lease.job.id, attempt=lease.attempt,
            adapter_key=adapter_key, final_metrics=metrics))
        return reply.adapter_version

    def fail(self, lease: Lease, error: str, *, cancelled: bool = False,
             retryable: bool = False) -> None:
        """End the attempt. `retryable`: it crashed, and another attempt may succeed."""
        self._job_call(self.stub.FailJob, worker_pb2.FailJobRequest(
            worker_id=self.worker_id, job_id=lease.job.id, attempt=lease.attempt,
            error=error, cancelled=cancelled, retryable=retryable))
