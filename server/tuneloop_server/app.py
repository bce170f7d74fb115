"""Assemble and run the control plane: stores, services, gRPC server, health, reflection.

`ControlPlane` owns every long-lived part; `serve()` runs it until SIGTERM/SIGINT and then
shuts down gracefully: health goes NOT_SERVING, in-flight RPCs get a grace period, workers
stop, the database is closed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from tuneloop.v1 import (
    adapters_pb2,
    adapters_pb2_grpc,
    admin_pb2,
    admin_pb2_grpc,
    datasets_pb2,
    datasets_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    inference_pb2,
    inference_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)

from . import tls
from .api.admin import AdminServicer
from .api.auth_interceptor import AuthInterceptor
from .api.interceptor import ErrorInterceptor
from .api.public import (
    AdapterServicer,
    DatasetServicer,
    FeedbackServicer,
    InferenceServicer,
    JobServicer,
)
from .api.worker import WorkerServicer
from .auth.authenticator import Authenticator
from .auth.bootstrap import LocalKeys, ensure_local_keys
from .auth.quotas import QuotaPolicy, RateLimiter
from .config import ServerSettings
from .objects import LocalObjectStore
from .serving_backends import backend_factory
from .services.adapters import AdapterService
from .services.admin import AdminService
from .services.audit import AuditLog
from .services.datasets import DatasetService
from .services.events import EventHub, poll_changes_forever
from .services.feedback import FeedbackService
from .services.inference import InferenceService
from .services.retrain import RetrainService
from .services.jobs import JobService
from .services.serving import ServingManager
from .services.workers import WorkerService
from .store import open_store

log = logging.getLogger("tuneloop.server")

MAX_MESSAGE_BYTES = 64 << 20
SERVICE_NAMES = [
    d.services_by_name[name].full_name
    for d, name in [
        (datasets_pb2.DESCRIPTOR, "DatasetService"), (jobs_pb2.DESCRIPTOR, "JobService"),
        (adapters_pb2.DESCRIPTOR, "AdapterService"), (inference_pb2.DESCRIPTOR, "InferenceService"),
        (feedback_pb2.DESCRIPTOR, "FeedbackService"), (worker_pb2.DESCRIPTOR, "WorkerService"),
        (admin_pb2.DESCRIPTOR, "AdminService"),
    ]
]
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


class ControlPlane:
    """Every long-lived part of one control-plane process."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(settings.resolved_database_url)
        self.local_keys: LocalKeys = ensure_local_keys(self.store, settings)
        self.objects = LocalObjectStore(settings.objects_dir)
        self.hub = EventHub()
        self.quotas = QuotaPolicy(self.store, settings)
        self.audit = AuditLog(self.store)
        self.authenticator = Authenticator(self.store, self.quotas, settings.auth_cache_seconds)
        self.serving = ServingManager(self.objects, settings.cache_dir, backend_factory(settings),
                                      settings.serving_max_adapters)
        self.datasets = DatasetService(self.store, self.objects, settings, self.quotas, self.audit)
        self.jobs = JobService(self.store, self.objects, self.hub, self.quotas, self.audit)
        self.workers = WorkerService(self.store, self.hub, self.serving, settings)
        self.inference = InferenceService(self.store, self.serving)
        self.retrain = RetrainService(self.store, self.jobs, self.audit)
        self.feedback = FeedbackService(self.store, self.audit, self.retrain)
        self.adapters = AdapterService(self.store, self.objects, self.serving, self.audit)
        self.admin = AdminService(self.store, self.quotas, self.audit)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port: int = 0
        self.worker_port: int = 0
        self.internal_port: int = 0
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> int:
        # Every database call runs in the default executor; its stock size (cores + 4) queues
        # hundreds of watchers' and callers' queries behind each other on a small machine.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(self.settings.io_threads, thread_name_prefix="tuneloop-io"))
        # Order matters: the error interceptor is outermost, so auth failures map to statuses.
        auth = AuthInterceptor(self.authenticator, RateLimiter(), worker_mtls=self.settings.worker_mtls)
        server = grpc.aio.server(interceptors=[ErrorInterceptor(), auth], options=SERVER_OPTIONS)
        datasets_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(self.datasets), server)
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(self.jobs), server)
        adapters_pb2_grpc.add_AdapterServiceServicer_to_server(
            AdapterServicer(self.adapters, self.retrain), server)
        inference_pb2_grpc.add_InferenceServiceServicer_to_server(
            InferenceServicer(self.inference), server)
        feedback_pb2_grpc.add_FeedbackServiceServicer_to_server(FeedbackServicer(self.feedback), server)
        worker_pb2_grpc.add_WorkerServiceServicer_to_server(WorkerServicer(self.workers), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(self.admin), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        self._listen(server)
        await server.start()
        self.server = server
        for name in ["", *SERVICE_NAMES]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._tasks.append(asyncio.create_task(self.workers.reap_expired_leases_forever()))
        self._tasks.append(asyncio.create_task(poll_changes_forever(self.hub, self.store.last_seqs)))
        self._tasks.append(asyncio.create_task(
            self.retrain.run_schedules_forever(self.settings.retrain_check_seconds)))
        log.info("control plane listening on %s (data in %s)", self.address, self.settings.data_dir)
        return self.port

    def _listen(self, server: grpc.aio.Server) -> None:
        s = self.settings
        self.port = _bind(server, s.address, tls.server_credentials(s))
        if s.worker_address is not None:
            self.worker_port = _bind(server, s.worker_address, tls.worker_server_credentials(s))
        if s.tls_cert_file is not None and s.embedded_workers:
            # In-process workers reach the API over loopback without TLS; they still send
            # their worker token. (With worker mTLS on there are no in-process workers.)
            self.internal_port = _bind(server, "127.0.0.1:0", None)

    @property
    def address(self) -> str:
        host = self.settings.address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    @property
    def internal_address(self) -> str:
        """Where in-process workers connect: plaintext loopback when the API speaks TLS."""
        return f"127.0.0.1:{self.internal_port}" if self.internal_port else self.address

    async def stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.serving.close()
        self.store.close()


def _bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    port = (server.add_secure_port(address, credentials) if credentials is not None
            else server.add_insecure_port(address))
    if port == 0:
        raise RuntimeError(f"could not listen on {address}: is the port in use?")
    return port


async def serve(settings: ServerSettings, *, on_started=None) -> None:
    """Run until SIGTERM/SIGINT. `on_started(plane)` runs once the port is open."""
    plane = ControlPlane(settings)
    await plane.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    extra = on_started(plane) if on_started else None
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if extra is not None:
            extra.stop()
        await plane.stop()
