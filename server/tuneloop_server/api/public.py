"""Servicers of the public API. Each method converts, delegates to a domain service, converts."""

from __future__ import annotations

from typing import AsyncIterator

from tuneloop.v1 import (
    adapters_pb2,
    adapters_pb2_grpc,
    datasets_pb2,
    datasets_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    inference_pb2,
    inference_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
)

from ..auth.principal import current_principal
from ..services.adapters import AdapterService
from ..services.datasets import DatasetService, UploadEnd, UploadPart, UploadStart
from ..services.feedback import FeedbackService
from ..services.inference import InferenceService
from ..services.jobs import JobService
from ..services.retrain import RetrainService
from . import convert


class DatasetServicer(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, datasets: DatasetService):
        self.datasets = datasets

    async def UploadDataset(self, request_iterator, context) -> datasets_pb2.Dataset:
        async def parts() -> AsyncIterator[UploadPart]:
            async for request in request_iterator:
                kind = request.WhichOneof("payload")
                if kind == "header":
                    h = request.header
                    yield UploadStart(name=h.name, filename=h.filename, size_bytes=h.size_bytes)
                elif kind == "chunk":
                    yield request.chunk
                elif kind == "trailer":
                    yield UploadEnd(sha256=request.trailer.sha256)

        return convert.dataset_to_pb(await self.datasets.upload(current_principal(), parts()))

    async def GetDataset(self, request, context) -> datasets_pb2.Dataset:
        return convert.dataset_to_pb(await self.datasets.get(current_principal(), request.dataset_id))

    async def ListDatasets(self, request, context) -> datasets_pb2.ListDatasetsResponse:
        records = await self.datasets.list(current_principal())
        return datasets_pb2.ListDatasetsResponse(datasets=[convert.dataset_to_pb(r) for r in records])

    async def DeleteDataset(self, request, context) -> datasets_pb2.DeleteDatasetResponse:
        await self.datasets.delete(current_principal(), request.dataset_id)
        return datasets_pb2.DeleteDatasetResponse()


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, jobs: JobService):
        self.jobs = jobs

    async def _job_pb(self, job) -> jobs_pb2.Job:
        return convert.job_to_pb(job, await self.jobs.queue_estimate(job))

    async def CreateJob(self, request, context) -> jobs_pb2.Job:
        job = await self.jobs.create(
            current_principal(),
            base_model=request.base_model, dataset_id=request.dataset_id,
            adapter=request.adapter, validation_dataset_id=request.validation_dataset_id,
            method=convert.method_from_pb(request.method),
            hyperparameters=convert.hyperparameters_from_pb(request.hyperparameters),
            include_feedback=request.include_feedback,
            idempotency_key=request.idempotency_key,
            evaluation=convert.evaluation_from_pb(request.evaluation))
        return await self._job_pb(job)

    async def GetJob(self, request, context) -> jobs_pb2.Job:
        return await self._job_pb(await self.jobs.get(current_principal(), request.job_id))

    async def ListJobs(self, request, context) -> jobs_pb2.ListJobsResponse:
        jobs = await self.jobs.list(current_principal(), convert.job_state_from_pb(request.state))
        return jobs_pb2.ListJobsResponse(jobs=[await self._job_pb(j) for j in jobs])

    async def CancelJob(self, request, context) -> jobs_pb2.Job:
        return convert.job_to_pb(await self.jobs.cancel(current_principal(), request.job_id))

    async def WatchJob(self, request, context) -> AsyncIterator[jobs_pb2.JobEvent]:
        async for event in self.jobs.watch(current_principal(), request.job_id, request.after_seq):
            yield convert.event_to_pb(event)


class AdapterServicer(adapters_pb2_grpc.AdapterServiceServicer):
    def __init__(self, adapters: AdapterService, retrain: RetrainService):
        self.adapters = adapters
        self.retrain = retrain

    async def ListAdapters(self, request, context) -> adapters_pb2.ListAdaptersResponse:
        views = await self.adapters.list(current_principal())
        return adapters_pb2.ListAdaptersResponse(adapters=[convert.adapter_to_pb(v) for v in views])

    async def GetAdapter(self, request, context) -> adapters_pb2.Adapter:
        return convert.adapter_to_pb(await self.adapters.get(current_principal(), request.name))

    async def DeleteAdapter(self, request, context) -> adapters_pb2.DeleteAdapterResponse:
        await self.adapters.delete(current_principal(), request.name)
        return adapters_pb2.DeleteAdapterResponse()

    async def PromoteAdapter(self, request, context) -> adapters_pb2.Adapter:
        view = await self.adapters.promote(current_principal(), request.name, request.version)
        return convert.adapter_to_pb(view)

    async def SetRetrainPolicy(self, request, context) -> adapters_pb2.RetrainPolicy:
        policy = await self.retrain.set_policy(current_principal(),
                                               convert.retrain_policy_from_pb(request))
        return convert.retrain_policy_to_pb(policy)

    async def GetRetrainPolicy(self, request, context) -> adapters_pb2.RetrainPolicy:
        return convert.retrain_policy_to_pb(
            await self.retrain.get_policy(current_principal(), request.adapter))


class InferenceServicer(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, inference: InferenceService):
        self.inference = inference

    async def Generate(self, request, context) -> inference_pb2.Completion:
        out = await self.inference.generate(
            current_principal(), request.model, convert.messages_from_pb(request.messages),
            convert.sampling_from_pb(request))
        r = out.result
        return inference_pb2.Completion(
            text=r.text, request_id=out.request_id, model=out.target.label,
            finish_reason=r.finish_reason,
            usage=convert.usage_to_pb(r.prompt_tokens, r.completion_tokens))

    async def StreamGenerate(self, request, context) -> AsyncIterator[inference_pb2.CompletionChunk]:
        stream = self.inference.stream(
            current_principal(), request.model, convert.messages_from_pb(request.messages),
            convert.sampling_from_pb(request))
        async for request_id, text, final in stream:
            chunk = inference_pb2.CompletionChunk(text=text, request_id=request_id)
            if final is not None:
                chunk.model = final.target.label
                chunk.finish_reason = final.result.finish_reason
                chunk.usage.CopyFrom(convert.usage_to_pb(
                    final.result.prompt_tokens, final.result.completion_tokens))
            yield chunk


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, feedback: FeedbackService):
        self.feedback = feedback

    async def SubmitFeedback(self, request, context) -> feedback_pb2.Feedback:
        record = await self.feedback.submit(
            current_principal(), request.request_id, request.correction,
            request.rating if request.HasField("rating") else None, request.note,
            messages=convert.messages_from_pb(request.messages), adapter=request.adapter,
            scrub_personal_data=request.scrub_personal_data)
        return convert.feedback_to_pb(record)

    async def ImportFeedback(self, request, context) -> feedback_pb2.ImportFeedbackResponse:
        result = await self.feedback.import_file(
            current_principal(), request.adapter, request.filename, request.content,
            request.scrub_personal_data)
        return feedback_pb2.ImportFeedbackResponse(
            imported=result.imported,
            errors=[feedback_pb2.FeedbackLineError(line=e.line, message=e.message)
                    for e in result.errors])

    async def ListFeedback(self, request, context) -> feedback_pb2.ListFeedbackResponse:
        records = await self.feedback.list(current_principal(), request.adapter)
        return feedback_pb2.ListFeedbackResponse(feedback=[convert.feedback_to_pb(r) for r in records])
