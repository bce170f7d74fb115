"""Servicer of the internal WorkerService (training workers ↔ control plane)."""

from __future__ import annotations

from tuneloop.v1 import worker_pb2, worker_pb2_grpc

from ..services.workers import WorkerService
from ..store.records import NewEvent
from . import convert


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(self, workers: WorkerService):
        self.workers = workers

    async def RegisterWorker(self, request, context) -> worker_pb2.RegisterWorkerResponse:
        worker_id = await self.workers.register(request.name, request.accelerator, request.memory_bytes)
        settings = self.workers.settings
        return worker_pb2.RegisterWorkerResponse(
            worker_id=worker_id, lease_seconds=settings.lease_seconds,
            heartbeat_interval_seconds=settings.heartbeat_seconds)

    async def LeaseJob(self, request, context) -> worker_pb2.LeaseJobResponse:
        assignment = await self.workers.lease(request.worker_id, request.wait_seconds)
        if assignment is None:
            return worker_pb2.LeaseJobResponse()
        return worker_pb2.LeaseJobResponse(assignment=worker_pb2.JobAssignment(
            job=convert.job_to_pb(assignment.job), attempt=assignment.job.attempt,
            dataset_key=assignment.dataset_key,
            validation_dataset_key=assignment.validation_dataset_key or "",
            feedback_key=assignment.feedback_key or "",
            output_prefix=assignment.output_prefix,
            checkpoint_prefix=assignment.checkpoint_prefix,
            eval_key=assignment.eval_key or "", general_eval_key=assignment.general_eval_key or "",
            previous_adapter_key=assignment.previous_adapter_key or "",
            warm_start=assignment.warm_start))

    async def Heartbeat(self, request, context) -> worker_pb2.HeartbeatResponse:
        cancel = await self.workers.heartbeat(request.worker_id, request.job_id, request.attempt)
        return worker_pb2.HeartbeatResponse(cancel_requested=cancel)

    async def ReportEvents(self, request, context) -> worker_pb2.ReportEventsResponse:
        events = [
            NewEvent(type=convert.event_type_from_pb(e.type), step=e.step,
                     total_steps=e.total_steps, metrics=dict(e.metrics), message=e.message)
            for e in request.events
        ]
        cancel = await self.workers.report_events(request.job_id, request.attempt, events)
        return worker_pb2.ReportEventsResponse(cancel_requested=cancel)

    async def CompleteJob(self, request, context) -> worker_pb2.CompleteJobResponse:
        job = await self.workers.complete(request.worker_id, request.job_id, request.attempt,
                                          request.adapter_key, dict(request.final_metrics))
        return worker_pb2.CompleteJobResponse(adapter_version=job.adapter_version)

    async def FailJob(self, request, context) -> worker_pb2.FailJobResponse:
        await self.workers.fail(request.job_id, request.attempt, request.error, request.cancelled,
                                request.retryable)
        return worker_pb2.FailJobResponse()
