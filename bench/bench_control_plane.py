"""The control plane under load: 1,000 open WatchJob streams while CreateJob calls keep coming.

Reports CreateJob latency (p50/p99) and jobs/s, and the latency from a worker's ReportEvents
to the event arriving on an SDK watch (p50/p99, target p99 < 100 ms on loopback), for SQLite
and, with --postgres, for a throwaway PostgreSQL cluster, in one run. The control plane runs
as its own process (`tuneloop server --workers 0`) on this machine's cores; the load comes
from this process over loopback.

    PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_control_plane.py --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _sub in ("gpu_worker", "server", "sdk", "bench", "tests"):
    if str(ROOT / _sub) not in sys.path:
        sys.path.insert(0, str(ROOT / _sub))

from bench_service_overhead import write_section  # noqa: E402

SECTION = "## Control plane under load"
EVENT_P99_TARGET_MS = 100.0
MARK = "bench-ts:"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--watchers", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=20.0, help="sustained CreateJob phase")
    p.add_argument("--concurrency", type=int, default=8, help="CreateJob calls in flight")
    p.add_argument("--events", type=int, default=200, help="worker events timed end to end")
    p.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    return p.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: str | None):
        self.data_dir = data_dir
        self.port = _free_port()
        env = {**os.environ, "TUNELOOP_DEFAULT_MAX_CONCURRENT_JOBS": "100000000",
               "TUNELOOP_DEFAULT_REQUESTS_PER_SECOND": "100000000"}
        if database_url:
            env["TUNELOOP_DATABASE_URL"] = database_url
        self.log = (data_dir.parent / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tuneloop.cli", "server", "--address", f"127.0.0.1:{self.port}",
             "--data-dir", str(data_dir), "--workers", "0"], env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not (data_dir / "worker.token").is_file():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {self.log.name}")
            time.sleep(0.2)
        self.address = f"127.0.0.1:{self.port}"
        self.api_key = (data_dir / "api.key").read_text().strip()
        self.worker_token = (data_dir / "worker.token").read_text().strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def report_events(server: ServerProcess, count: int, leased: threading.Event, box: dict) -> None:
    """A worker: lease the oldest job, then report `count` events stamped with send time."""
    from tuneloop.v1 import jobs_pb2, worker_pb2
    from tuneloop_worker.control_plane import ControlPlaneClient

    client = ControlPlaneClient(server.address, server.worker_token)
    client.register("bench", "cpu", 0)
    lease = client.lease(wait_seconds=10)
    assert lease is not None
    box["job_id"] = lease.job.id
    leased.set()
    time.sleep(1.0)  # let the job's watcher see the RUNNING event first
    for _ in range(count):
        client.report(lease, [worker_pb2.WorkerEvent(type=jobs_pb2.EVENT_TYPE_LOG,
                                                     message=f"{MARK}{time.time():.6f}")])
        time.sleep(0.02)
    client.close()


async def load(server: ServerProcess, args: argparse.Namespace) -> dict:
    import tuneloop

    clients = [tuneloop.AsyncClient(server.address, api_key=server.api_key, timeout=120)
               for _ in range(max(1, args.watchers // 100))]
    data = server.data_dir.parent / "data.jsonl"
    data.write_text(json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    dataset = await clients[0].datasets.upload(data)
    gate = asyncio.Semaphore(32)

    async def create(i: int, client) -> tuple[str, float]:
        async with gate:
            started = time.perf_counter()
            job = await client.jobs.create(base_model="smollm2-135m", dataset=dataset.id,
                                           adapter=f"a{i % 50}")
            return job.id, time.perf_counter() - started

    jobs = [job_id for job_id, _ in await asyncio.gather(
        *(create(i, clients[i % len(clients)]) for i in range(args.watchers)))]

    latencies_ms: list[float] = []
    connected = 0
    all_connected = asyncio.Event()

    async def watch(job_id: str, client) -> None:
        nonlocal connected
        first = True
        async for event in client.jobs.watch(job_id):
            if first:
                connected += 1
                first = False
                if connected == len(jobs):
                    all_connected.set()
            if event.message.startswith(MARK):
                latencies_ms.append((time.time() - float(event.message[len(MARK):])) * 1000)

    watchers = [asyncio.create_task(watch(j, clients[i % len(clients)])) for i, j in enumerate(jobs)]
    await asyncio.wait_for(all_connected.wait(), 300)

    leased, box = threading.Event(), {}
    reporter = threading.Thread(target=report_events, args=(server, args.events, leased, box))
    reporter.start()
    create_ms: list[float] = []
    deadline = time.perf_counter() + args.seconds

    async def sustained(worker: int) -> None:
        client = clients[worker % len(clients)]
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await client.jobs.create(base_model="smollm2-135m", dataset=dataset.id, adapter="load")
            create_ms.append((time.perf_counter() - started) * 1000)

    phase_start = time.perf_counter()
    await asyncio.gather(*(sustained(w) for w in range(args.concurrency)))
    phase = time.perf_counter() - phase_start
    await asyncio.to_thread(reporter.join)
    await asyncio.sleep(1.0)
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    for client in clients:
        await client.close()
    return {"watchers": len(jobs), "creates": len(create_ms), "phase_s": phase,
            "create_ms": create_ms, "event_ms": latencies_ms}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"tuneloop-bench-{name}-") as tmp:
        server = ServerProcess(Path(tmp) / "data", database_url)
        try:
            raw = asyncio.run(load(server, args))
        finally:
            server.stop()
    c, e = raw["create_ms"], raw["event_ms"]
    return {"backend": name, "watchers": raw["watchers"], "jobs_per_s": raw["creates"] / raw["phase_s"],
            "create_p50_ms": _pct(c, 0.5), "create_p99_ms": _pct(c, 0.99), "creates": len(c),
            "event_p50_ms": _pct(e, 0.5), "event_p99_ms": _pct(e, 0.99), "events": len(e)}


def render(results: list[dict], args: argparse.Namespace, raw_file: Path) -> str:
    rows = [f"| {r['backend']} | {r['watchers']} | {r['jobs_per_s']:.1f} | {r['create_p50_ms']:.1f} | "
            f"{r['create_p99_ms']:.1f} | {r['event_p50_ms']:.1f} | {r['event_p99_ms']:.1f} | "
            f"{'yes' if r['event_p99_ms'] < EVENT_P99_TARGET_MS else '**no**'} |" for r in results]
    return "\n".join([
        SECTION, "",
        f"`tuneloop server --workers 0` as its own process; this process opens {args.watchers} "
        f"WatchJob streams (one per queued job), then sends CreateJob calls for {args.seconds:.0f} s "
        f"with {args.concurrency} in flight while a worker (the real worker client) reports "
        f"{args.events} events 20 ms apart on one watched job. Event latency is send time in the "
        "worker to arrival on the SDK's watch (same clock).", "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} cores; 1-min load average {os.getloadavg()[0]:.1f} at the end", "",
        "| store | open watches | CreateJob/s | CreateJob p50 ms | p99 ms | event p50 ms | "
        f"event p99 ms | p99 < {EVENT_P99_TARGET_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|", *rows, "",
        "Reproduce: `PYTHONPATH=sdk:server:gpu_worker .venv/bin/python bench/bench_control_plane.py "
        f"--postgres` (raw numbers: `{raw_file.relative_to(ROOT)}`, not committed).", "",
    ])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = [run_backend("SQLite", None, args)]
    if args.postgres:
        from postgres_cluster import throwaway_cluster

        with throwaway_cluster() as url:
            results.append(run_backend("PostgreSQL", url, args))
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_file = out_dir / f"control_plane-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    raw_file.write_text(json.dumps(results, indent=2), encoding="utf-8")
    section = render(results, args, raw_file)
    write_section(args.out, section)
    print("\n" + section)


if __name__ == "__main__":
    main()
