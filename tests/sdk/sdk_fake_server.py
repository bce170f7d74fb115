"""An in-memory tuneloop server for SDK tests: the generated servicers, with fault injection.

Jobs finish instantly: CreateJob records a scripted event history and the terminal job.
Faults: `state.faults["Method"]` is a queue of (code, message) raised before the handler runs;
`state.watch_drops` is a queue of event counts after which a WatchJob stream is cut with
UNAVAILABLE. Base model "broken-model" makes a job fail, "slow-model" one that never ends.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, defaultdict
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from sdk_fake_jobs import Jobs, now
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

@dataclass
class FakeState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter = field(default_factory=Counter)
    metadata: list[dict] = field(default_factory=list)
    faults: dict[str, list[tuple[grpc.StatusCode, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    watch_drops: list[int] = field(default_factory=list)
    watch_after_seqs: list[int] = field(default_factory=list)
    # A buggy server that replays from seq 1 on every re-open, ignoring after_seq.
    watch_ignores_cursor: bool = False
    create_keys: list[str] = field(default_factory=list)
    create_requests: list = field(default_factory=list)
    upload_log: list[tuple] = field(default_factory=list)
    datasets: dict[str, datasets_pb2.Dataset] = field(default_factory=dict)
    jobs: dict[str, jobs_pb2.Job] = field(default_factory=dict)
    job_by_key: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[jobs_pb2.JobEvent]] = field(default_factory=dict)
    requests_log: dict[str, inference_pb2.Completion] = field(default_factory=dict)
    feedback: list[feedback_pb2.Feedback] = field(default_factory=list)

    def enter(self, method: str, context: grpc.ServicerContext) -> None:
        """Record the call; raise the next injected fault for this method, if any."""
        with self.lock:
            self.calls[method] += 1
            self.metadata.append(dict(context.invocation_metadata()))
            fault = self.faults[method].pop(0) if self.faults[method] else None
        if fault:
            context.abort(*fault)


def _parse_jsonl(data: bytes) -> tuple[int, list[datasets_pb2.DatasetError]]:
    count, errors = 0, []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(datasets_pb2.DatasetError(line=number, message=f"not JSON: {exc.msg}"))
            continue
        if not isinstance(row, dict) or not ("messages" in row or "prompt" in row):
            errors.append(datasets_pb2.DatasetError(line=number, message="needs messages"))
            continue
        count += 1
    return count, errors


class Datasets(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def UploadDataset(self, request_iterator, context):
        self.s.enter("UploadDataset", context)
        header, digest, data, trailer = None, hashlib.sha256(), bytearray(), None
        for req in request_iterator:
            kind = req.WhichOneof("payload")
            if kind == "header":
                header = req.header
                self.s.upload_log.append(("header", header.name, header.filename,
                                          header.size_bytes))
            elif kind == "chunk":
                digest.update(req.chunk)
                data += req.chunk
                self.s.upload_log.append(("chunk", len(req.chunk)))
            else:
                trailer = req.trailer
                self.s.upload_log.append(("trailer", trailer.sha256))
        if header is None or trailer is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "header and trailer are required")
        if len(data) != header.size_bytes or digest.hexdigest() != trailer.sha256:
            context.abort(grpc.StatusCode.DATA_LOSS, "size or sha256 mismatch")
        count, errors = _parse_jsonl(bytes(data))
        ds = datasets_pb2.Dataset(
            id=f"ds-{len(self.s.datasets) + 1}", name=header.name, num_examples=count,
            status=datasets_pb2.DATASET_STATUS_INVALID if errors
            else datasets_pb2.DATASET_STATUS_READY,
            sha256=trailer.sha256, size_bytes=len(data), format="chat", errors=errors,
            created_at=now(),
        )
        self.s.datasets[ds.id] = ds
        return ds

    def GetDataset(self, request, context):
        self.s.enter("GetDataset", context)
        if request.dataset_id not in self.s.datasets:
            context.abort(grpc.StatusCode.NOT_FOUND, f"dataset {request.dataset_id} not found")
        return self.s.datasets[request.dataset_id]

    def ListDatasets(self, request, context):
        self.s.enter("ListDatasets", context)
        return datasets_pb2.ListDatasetsResponse(datasets=list(self.s.datasets.values()))

    def DeleteDataset(self, request, context):
        self.s.enter("DeleteDataset", context)
        self.s.datasets.pop(request.dataset_id, None)
        return datasets_pb2.DeleteDatasetResponse()


class Adapters(adapters_pb2_grpc.AdapterServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def _support(self) -> adapters_pb2.Adapter:
        versions = [adapters_pb2.AdapterVersion(version=v, job_id=f"job-{v}", created_at=now())
                    for v in (1, 2)]
        return adapters_pb2.Adapter(name="support", base_model="smollm2-135m", latest_version=2,
                                    versions=versions, created_at=now())

    def ListAdapters(self, request, context):
        self.s.enter("ListAdapters", context)
        return adapters_pb2.ListAdaptersResponse(adapters=[self._support()])

    def GetAdapter(self, request, context):
        self.s.enter("GetAdapter", context)
        if request.name != "support":
            context.abort(grpc.StatusCode.NOT_FOUND, f"adapter {request.name!r} not found")
        return self._support()

    def DeleteAdapter(self, request, context):
        self.s.enter("DeleteAdapter", context)
        return adapters_pb2.DeleteAdapterResponse()


class Inference(inference_pb2_grpc.InferenceServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def _answer(self, request) -> inference_pb2.Completion:
        words = ["echo:"] + request.messages[-1].content.split()
        words = words[: request.max_tokens or 256]
        out = inference_pb2.Completion(
            text=" ".join(words), request_id=f"req-{len(self.s.requests_log) + 1}",
            model=f"{request.model}@v2", finish_reason="stop",
            usage=inference_pb2.Usage(prompt_tokens=7, completion_tokens=len(words)),
        )
        self.s.requests_log[out.request_id] = out
        return out

    def Generate(self, request, context):
        self.s.enter("Generate", context)
        return self._answer(request)

    def StreamGenerate(self, request, context):
        self.s.enter("StreamGenerate", context)
        out = self._answer(request)
        words = out.text.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield inference_pb2.CompletionChunk(
                text=word if i == 0 else " " + word, request_id=out.request_id, model=out.model,
                finish_reason=out.finish_reason if last else "",
                usage=out.usage if last else None,
            )


class Feedback(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def SubmitFeedback(self, request, context):
        self.s.enter("SubmitFeedback", context)
        out = self.s.requests_log.get(request.request_id)
        if out is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no logged call {request.request_id}")
        name, _, version = out.model.partition("@v")
        fb = feedback_pb2.Feedback(
            id=f"fb-{len(self.s.feedback) + 1}", request_id=request.request_id, adapter=name,
            adapter_version=int(version), output=out.text, correction=request.correction,
            note=request.note, created_at=now(),
            messages=[inference_pb2.ChatMessage(role="user", content="q")],
        )
        if request.HasField("rating"):
            fb.rating = request.rating
        self.s.feedback.append(fb)
        return fb

    def ListFeedback(self, request, context):
        self.s.enter("ListFeedback", context)
        items = [f for f in self.s.feedback if request.adapter in ("", f.adapter)]
        return feedback_pb2.ListFeedbackResponse(feedback=items)


class FakeServer:
    """A real gRPC server on a free loopback port, serving the fakes above."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        holder = self
        for add, cls in (
            (datasets_pb2_grpc.add_DatasetServiceServicer_to_server, Datasets),
            (jobs_pb2_grpc.add_JobServiceServicer_to_server, Jobs),
            (adapters_pb2_grpc.add_AdapterServiceServicer_to_server, Adapters),
            (inference_pb2_grpc.add_InferenceServiceServicer_to_server, Inference),
            (feedback_pb2_grpc.add_FeedbackServiceServicer_to_server, Feedback),
        ):
            add(cls(_StateProxy(holder)), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self.server.start()
        return self

    def reset(self) -> FakeState:
        self.state = FakeState()
        return self.state

    def stop(self) -> None:
        self.server.stop(grace=None)


class _StateProxy:
    """Lets `FakeServer.reset` swap the state under servicers that were registered once."""

    def __init__(self, holder: FakeServer) -> None:
        self._holder = holder

    def __getattr__(self, name: str):
        return getattr(self._holder.state, name)
