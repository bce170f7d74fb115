"""The worker: lease a job, train it, publish the adapter, report. Repeat until stopped.

The same loop runs in-process next to the control plane (embedded default) and as a
separate `tuneloop worker` process; either way it talks to the control plane over gRPC.
"""

from __future__ import annotations

import logging
import shutil
import threading
import traceback
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict
from tuneloop.v1 import jobs_pb2, worker_pb2

from . import checkpoint_store
from .control_plane import ControlPlaneClient, Lease, LeaseLost
from .training.config import TrainingConfig
from .training.trainer import TrainingCancelled, TrainingError, TrainingEvent, train

log = logging.getLogger("tuneloop.worker")

_EVENT_TYPES = {
    "metrics": jobs_pb2.EVENT_TYPE_METRICS, "eval": jobs_pb2.EVENT_TYPE_EVAL,
    "checkpoint": jobs_pb2.EVENT_TYPE_CHECKPOINT, "log": jobs_pb2.EVENT_TYPE_LOG,
}


def _accelerator() -> tuple[str, int]:
    import psutil
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_properties(0).total_memory
    return "cpu", psutil.virtual_memory().total


class JobRun:
    """One attempt at one job: heartbeats, event reporting and the stop conditions."""

    def __init__(self, client: ControlPlaneClient, lease: Lease, shutdown: threading.Event):
        self.client = client
        self.lease = lease
        self.shutdown = shutdown
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.lost.is_set() or self.shutdown.is_set()

    def heartbeat_forever(self) -> None:
        while not self._done.wait(self.client.heartbeat_seconds):
            try:
                if self.client.heartbeat(self.lease):
                    self.cancelled.set()
            except LeaseLost:
                self.lost.set()
            except grpc.RpcError as exc:  # keep training; the lease outlives short outages
                log.warning("heartbeat for %s failed: %s", self.lease.job.id, exc.code())

    def report(self, event: TrainingEvent) -> None:
        if self.lost.is_set():
            return
        pb = worker_pb2.WorkerEvent(type=_EVENT_TYPES.get(event.type, jobs_pb2.EVENT_TYPE_LOG),
                                    step=event.step, total_steps=event.total_steps,
                                    metrics=event.metrics, message=event.message)
        try:
            if self.client.report(self.lease, [pb]):
                self.cancelled.set()
        except LeaseLost:
            self.lost.set()

    def finish(self) -> None:
        self._done.set()


class Worker:
    def __init__(self, client: ControlPlaneClient, objects, cache_dir: Path, scratch_dir: Path):
        self.client = client
        self.objects = objects
        self.cache_dir = cache_dir
        self.scratch_dir = scratch_dir
        self.shutdown = threading.Event()

    def register(self, name: str) -> None:
        accelerator, memory = _accelerator()
        self.client.register(name, accelerator, memory)
        log.info("worker %s registered (%s)", self.client.worker_id, accelerator)

    def run_forever(self, wait_seconds: float = 20.0) -> None:
        while not self.shutdown.is_set():
            try:
                self.run_once(wait_seconds)
            except grpc.RpcError as exc:
                log.warning("control plane call failed (%s); retrying", exc.code())
                self.shutdown.wait(2.0)

    def run_once(self, wait_seconds: float) -> bool:
        lease = self.client.lease(wait_seconds)
        if lease is None:
            return False
        run = JobRun(self.client, lease, self.shutdown)
        beat = threading.Thread(target=run.heartbeat_forever, daemon=True, name="heartbeat")
        beat.start()
        workdir = self.scratch_dir / lease.job.id / f"attempt-{lease.attempt}"
        try:
            self._execute(run, workdir)
        finally:
            run.finish()
            beat.join(timeout=5)
            shutil.rmtree(workdir, ignore_errors=True)
        return True

    def _execute(self, run: JobRun, workdir: Path) -> None:
        lease = run.lease
        log.info("job %s attempt %d: training %s", lease.job.id, lease.attempt, lease.job.adapter)
        try:
            result = self._train(run, workdir)
            if run.should_stop():
                raise TrainingCancelled(result.steps)
            metrics = {**result.metrics, **self._evaluate(run, workdir, result.adapter_dir)}
            adapter_key = f"{lease.output_prefix}/adapter"
            self.objects.put_dir(adapter_key, result.adapter_dir)
            version = self.client.complete(lease, adapter_key, metrics)
            log.info("job %s published %s@v%d", lease.job.id, lease.job.adapter, version)
        except TrainingCancelled:
            if run.cancelled.is_set():
                self.client.fail(lease, "cancelled by the user", cancelled=True)
            elif run.lost.is_set():
                log.warning("job %s attempt %d: lease lost to a newer attempt; stopped without "
                            "reporting", lease.job.id, lease.attempt)
            # Shutdown: say nothing; the control plane requeues the job when the lease ends.
        except LeaseLost as exc:
            log.warning("job %s: lease lost (%s)", lease.job.id, exc)
        except TrainingError as exc:  # the user's data or settings: another attempt won't help
            self.client.fail(lease, str(exc))
        except Exception as exc:  # noqa: BLE001 - any crash must end the attempt visibly
            log.error("job %s crashed:\n%s", lease.job.id, traceback.format_exc())
            # Retryable: the control plane requeues the job (it resumes from its last
            # checkpoint) until the attempts run out, then fails it with this error.
            self.client.fail(lease, f"training crashed: {type(exc).__name__}: {exc}", retryable=True)

    def _train(self, run: JobRun, workdir: Path):
        lease, job = run.lease, run.lease.job
        train_files = [self._fetch(lease.dataset_key, workdir / "train.jsonl")]
        if lease.feedback_key:
            train_files.append(self._fetch(lease.feedback_key, workdir / "feedback.jsonl"))
        validation = (self._fetch(lease.validation_dataset_key, workdir / "validation.jsonl")
                      if lease.validation_dataset_key else None)
        hyperparameters = MessageToDict(job.hyperparameters, preserving_proto_field_name=True)
        method = "qlora" if job.method == jobs_pb2.METHOD_QLORA else "lora"
        config = TrainingConfig.model_validate({**hyperparameters, "method": method})
        resume = self._restore_checkpoint(lease, workdir / "resume")
        warm = self._previous_adapter(lease, workdir) if lease.warm_start else None
        output_dir = workdir / "out"

        def on_event(event: TrainingEvent) -> None:
            if event.type == "checkpoint" and lease.checkpoint_prefix and not run.should_stop():
                # Uploaded before it is reported: a checkpoint event means any worker can use it.
                checkpoint_store.upload_checkpoint(
                    self.objects, output_dir / "checkpoints" / event.message, lease.checkpoint_prefix)
            run.report(event)

        return train(base_model=job.base_model, train_files=train_files,
                     output_dir=output_dir, config=config, cache_dir=self.cache_dir,
                     validation_file=validation, on_event=on_event, should_stop=run.should_stop,
                     resume_from=resume, init_adapter=warm)

    def _previous_adapter(self, lease: Lease, workdir: Path) -> Path | None:
        if not lease.previous_adapter_key:
            return None
        target = workdir / "previous"
        if not (target / "adapter_config.json").is_file():
            self.objects.get_dir(lease.previous_adapter_key, target)
        return target

    def _evaluate(self, run: JobRun, workdir: Path, adapter_dir: Path) -> dict[str, float]:
        """Scores for the promotion gate ("eval.*") and the forgetting check ("general.*")."""
        from .training.evaluate import evaluate_versions

        lease, scores = run.lease, {}
        previous = self._previous_adapter(lease, workdir)
        for key, prefix, versions in (
                (lease.eval_key, "eval", {"new": adapter_dir, **({"previous": previous} if previous else {})}),
                (lease.general_eval_key, "general", {"new": adapter_dir})):
            if not key:
                continue
            found = evaluate_versions(lease.job.base_model, self.cache_dir,
                                      self._fetch(key, workdir / f"{prefix}.jsonl"), versions, prefix)
            scores.update(found)
            run.report(TrainingEvent("eval", step=0, total_steps=0, metrics=found,
                                     message=f"{prefix} set: {_summary(found, prefix)}"))
        return scores

    def _restore_checkpoint(self, lease: Lease, dest: Path) -> Path | None:
        if lease.attempt <= 1 or not lease.checkpoint_prefix:
            return None
        found = checkpoint_store.download_latest(self.objects, lease.checkpoint_prefix, dest)
        if found is not None:
            log.info("job %s attempt %d resumes from %s", lease.job.id, lease.attempt, found.name)
        return found

    def _fetch(self, key: str, dest: Path) -> Path:
        self.objects.get_file(key, dest)
        return dest


def _summary(scores: dict[str, float], prefix: str) -> str:
    models = sorted({k.split(".")[1] for k in scores if k.count(".") == 2})
    return ", ".join(f"{m} exact match {scores[f'{prefix}.{m}.exact_match']:.2f}" for m in models)


def start_in_thread(worker: Worker, name: str, wait_seconds: float = 5.0) -> threading.Thread:
    """Run a worker in a daemon thread (the embedded default); stop it with worker.shutdown."""

    def run() -> None:
        try:
            worker.register(name)
            worker.run_forever(wait_seconds)
        except Exception:
            log.exception("in-process worker stopped")

    thread = threading.Thread(target=run, daemon=True, name=f"worker-{name}")
    thread.start()
    return thread
