"""The fake JobService: jobs finish at once, with a scripted, gap-free event history."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from tuneloop.v1 import jobs_pb2, jobs_pb2_grpc

if TYPE_CHECKING:
    from sdk_fake_server import FakeState

TOTAL_STEPS = 5


def now() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def _script(job: jobs_pb2.Job) -> list[jobs_pb2.JobEvent]:
    """Event history of a job: queued, running, metrics per step, then the outcome."""
    J = jobs_pb2
    rows = [(J.EVENT_TYPE_STATE, J.JOB_STATE_QUEUED, 0, {}, ""),
            (J.EVENT_TYPE_STATE, J.JOB_STATE_RUNNING, 0, {}, "")]
    if job.base_model == "slow-model":  # never finishes: for wait timeouts
        return [J.JobEvent(seq=i + 1, job_id=job.id, type=t, state=s, step=st,
                           total_steps=TOTAL_STEPS, metrics=m, message=msg)
                for i, (t, s, st, m, msg) in enumerate(rows)]
    for step in range(1, TOTAL_STEPS + 1):
        rows.append((J.EVENT_TYPE_METRICS, J.JOB_STATE_RUNNING, step,
                     {"loss": 2.0 / step, "eta_seconds": float(TOTAL_STEPS - step)}, ""))
    rows.append((J.EVENT_TYPE_LOG, J.JOB_STATE_RUNNING, TOTAL_STEPS, {}, "saving adapter"))
    if job.base_model == "broken-model":
        rows.append((J.EVENT_TYPE_STATE, J.JOB_STATE_FAILED, TOTAL_STEPS, {}, "out of memory"))
    else:
        rows.append((J.EVENT_TYPE_CHECKPOINT, J.JOB_STATE_RUNNING, TOTAL_STEPS, {}, "ckpt-5"))
        rows.append((J.EVENT_TYPE_ADAPTER_READY, J.JOB_STATE_RUNNING, TOTAL_STEPS, {},
                     f"{job.adapter}@v1"))
        rows.append((J.EVENT_TYPE_STATE, J.JOB_STATE_SUCCEEDED, TOTAL_STEPS, {}, ""))
    return [J.JobEvent(seq=i + 1, job_id=job.id, type=t, state=s, step=st,
                       total_steps=TOTAL_STEPS, metrics=m, message=msg, created_at=now())
            for i, (t, s, st, m, msg) in enumerate(rows)]


class Jobs(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, state: FakeState) -> None:
        self.s = state

    def CreateJob(self, request, context):
        with self.s.lock:
            self.s.create_keys.append(request.idempotency_key)
            self.s.create_requests.append(request)
        self.s.enter("CreateJob", context)
        if request.idempotency_key in self.s.job_by_key:
            return self.s.jobs[self.s.job_by_key[request.idempotency_key]]
        job = jobs_pb2.Job(
            id=f"job-{len(self.s.jobs) + 1}", state=jobs_pb2.JOB_STATE_QUEUED,
            base_model=request.base_model, dataset_id=request.dataset_id,
            adapter=request.adapter, method=request.method or jobs_pb2.METHOD_LORA,
            hyperparameters=request.hyperparameters, total_steps=TOTAL_STEPS, attempt=1,
            created_at=now(),
        )
        self.s.events[job.id] = events = _script(job)
        final = jobs_pb2.Job()
        final.CopyFrom(job)
        final.state, final.step = events[-1].state, events[-1].step
        if final.state == jobs_pb2.JOB_STATE_FAILED:
            final.error = "out of memory"
        if final.state == jobs_pb2.JOB_STATE_SUCCEEDED:
            final.adapter_version = 1
        self.s.jobs[job.id] = final
        self.s.job_by_key[request.idempotency_key] = job.id
        return job

    def GetJob(self, request, context):
        self.s.enter("GetJob", context)
        if request.job_id not in self.s.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} not found")
        return self.s.jobs[request.job_id]

    def ListJobs(self, request, context):
        self.s.enter("ListJobs", context)
        jobs = [j for j in self.s.jobs.values() if request.state in (0, j.state)]
        return jobs_pb2.ListJobsResponse(jobs=jobs)

    def CancelJob(self, request, context):
        self.s.enter("CancelJob", context)
        job = self.s.jobs[request.job_id]
        job.state = jobs_pb2.JOB_STATE_CANCELLED
        return job

    def WatchJob(self, request, context):
        self.s.enter("WatchJob", context)
        with self.s.lock:
            self.s.watch_after_seqs.append(request.after_seq)
            drop = self.s.watch_drops.pop(0) if self.s.watch_drops else None
        after = 0 if self.s.watch_ignores_cursor else request.after_seq
        events = [e for e in self.s.events[request.job_id] if e.seq > after]
        for sent, event in enumerate(events):
            if drop is not None and sent == drop:
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
            yield event
        while self.s.jobs[request.job_id].base_model == "slow-model" and context.is_active():
            time.sleep(0.02)  # a job that never ends: hold the stream open until the deadline
