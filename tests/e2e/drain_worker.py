"""A stand-in training worker that drains the queue fast, for the distributed-queue tests.

    python tests/e2e/drain_worker.py ADDRESS TOKEN OBJECTS_DIR ADAPTER_DIR NAME

It speaks the real worker protocol through the real client (`ControlPlaneClient`): register,
then lease -> report one metrics event -> publish ADAPTER_DIR as the job's adapter -> complete,
until SIGTERM. Instead of training it copies a prepared adapter, so hundreds of jobs take
seconds. Every completion is printed as `completed JOB_ID v VERSION`, and the last line is
`DONE completed=N` (N: jobs this worker completed).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from tuneloop.v1 import jobs_pb2, worker_pb2
from tuneloop_server.objects import LocalObjectStore
from tuneloop_worker.control_plane import ControlPlaneClient, LeaseLost


def main(address: str, token: str, objects_dir: str, adapter_dir: str, name: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    objects = LocalObjectStore(Path(objects_dir))
    client = ControlPlaneClient(address, token)
    client.register(name, "cpu", 0)
    print(f"registered {name} as {client.worker_id}", flush=True)
    completed = 0
    try:
        while not stop.is_set():
            lease = client.lease(wait_seconds=2)
            if lease is None:
                continue
            try:
                client.report(lease, [worker_pb2.WorkerEvent(
                    type=jobs_pb2.EVENT_TYPE_METRICS, step=1, total_steps=1,
                    metrics={"loss": 0.5}, message=f"drained by {name}")])
                key = f"{lease.output_prefix}/adapter"
                objects.put_dir(key, Path(adapter_dir))
                version = client.complete(lease, key, {"loss": 0.5})
            except LeaseLost as exc:
                print(f"lost {lease.job.id}: {exc}", flush=True)
                continue
            completed += 1
            print(f"completed {lease.job.id} v {version}", flush=True)
    finally:
        client.close()
        print(f"DONE completed={completed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
