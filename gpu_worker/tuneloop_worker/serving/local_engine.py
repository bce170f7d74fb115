"""In-process serving: one base model, many LoRA adapters, mixed-adapter batches (PEFT).

The embedded default behind ServingBackend. Coroutines on the event loop only queue work;
a single scheduler thread owns the model and does everything torch: loading the base model,
loading/unloading adapters between batches, and running batched `generate` calls. Results
and stream deltas travel back with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator, Callable

from .backend import GenerationRequest, GenerationResult, StreamDelta, UnknownAdapterError
from .jobs import Command, Event, Job, set_exception, set_result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineStats:
    generate_calls: int = 0  # batched model.generate() calls
    rows: int = 0  # requests served through them
    largest_batch: int = 0
    adapters: int = 0  # adapters loaded now
    parameters: int = 0  # model parameters now, base + adapters: shows memory really freed


class LocalPeftEngine:
    """ServingBackend on transformers + peft, for one machine (CPU or one GPU)."""

    def __init__(
        self,
        base_model: str,
        cache_dir: Path,
        *,
        max_batch_size: int = 8,
        max_adapters: int = 64,
        device: str = "cpu",
        batch_window_s: float = 0.005,
    ) -> None:
        self.base_model = base_model
        self._cache_dir = Path(cache_dir)
        self._max_batch = max_batch_size
        self._max_adapters = max_adapters
        self._device = device
        # How long the scheduler lingers after the first request so that requests arriving
        # together share one generate call; tiny next to a single decoding step.
        self._batch_window_s = batch_window_s
        self._queue: deque[Job | Command] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._runner = None  # batch.Runner, created on the scheduler thread by start()
        self._stats = EngineStats()

    @property
    def stats(self) -> EngineStats:
        return self._stats

    async def start(self) -> None:
        if self._thread is not None:
            return
        if self._closed:
            raise RuntimeError("engine is closed")
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        # Daemon: a process that forgets close() must still be able to exit.
        self._thread = threading.Thread(
            target=self._serve, args=(loop, ready), name="tuneloop-serving", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread = None
            raise

    async def load_adapter(self, key: str, path: Path) -> None:
        await self._command(lambda: self._runner.adapters.load(key, Path(path)))

    async def unload_adapter(self, key: str) -> None:
        await self._command(lambda: self._runner.adapters.unload(key))

    def has_adapter(self, key: str) -> bool:
        return self._runner is not None and key in self._runner.adapters

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        future = asyncio.get_running_loop().create_future()

        def on_event(text, result, exc) -> None:
            if exc is not None:
                set_exception(future, exc)
            elif result is not None:
                set_result(future, result)

        job = self._submit(request, on_event)
        try:
            return await future
        finally:
            job.cancelled = True  # no-op once finished; stops the row if our caller gave up

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta]:
        events: asyncio.Queue[Event] = asyncio.Queue()
        job = self._submit(request, lambda *event: events.put_nowait(event))
        try:
            while True:
                text, result, exc = await events.get()
                if exc is not None:
                    raise exc
                yield StreamDelta(text or "", result)
                if result is not None:
                    return
        finally:
            job.cancelled = True

    async def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # -- event-loop side helpers ---------------------------------------------------------

    def _check_running(self) -> None:
        if self._closed:
            raise RuntimeError("engine is closed")
        if self._runner is None:
            raise RuntimeError("engine is not started: await start() first")

    def _submit(self, request: GenerationRequest, on_event: Callable) -> Job:
        request.validate()
        self._check_running()
        if request.adapter is not None and not self.has_adapter(request.adapter):
            raise UnknownAdapterError(f"no adapter is loaded under {request.adapter!r}")
        job = Job(request, asyncio.get_running_loop(), on_event)
        self._enqueue(job)
        return job

    async def _command(self, fn: Callable[[], None]) -> None:
        self._check_running()
        command = Command(fn, asyncio.get_running_loop())
        self._enqueue(command)
        await command.future

    def _enqueue(self, item: Job | Command) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("engine is closed")
            self._queue.append(item)
            self._cond.notify()

    # -- scheduler thread ----------------------------------------------------------------

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future) -> None:
        try:
            self._runner = self._load_runner()
        except BaseException as exc:
            loop.call_soon_threadsafe(set_exception, ready, exc)
            return
        self._update_stats()
        loop.call_soon_threadsafe(set_result, ready, None)
        while (work := self._next_work()) is not None:
            try:
                if isinstance(work, Command):
                    work.run(before_reply=self._update_stats)
                else:
                    self._runner.run(work, on_start=self._update_stats)
            except Exception as exc:  # a bug here must fail these callers, not hang them all
                log.exception("serving scheduler failed on %s", type(work).__name__)
                for item in work if isinstance(work, list) else [work]:
                    item.fail(exc)
        self._drain_on_close()

    def _update_stats(self, batch: int = 0) -> None:
        # Replaced whole, never mutated: readers on the loop thread see a consistent snapshot.
        s, adapters = self._stats, self._runner.adapters
        self._stats = replace(
            s,
            generate_calls=s.generate_calls + (1 if batch else 0),
            rows=s.rows + batch,
            largest_batch=max(s.largest_batch, batch),
            adapters=len(adapters),
            parameters=sum(p.numel() for p in adapters.model.parameters()),
        )

    def _load_runner(self):
        import torch

        from .. import base_models
        from .adapters import AdapterSet
        from .batch import Runner

        model, tokenizer = base_models.load(self.base_model, self._cache_dir, device=self._device)
        model.eval()
        eos = {tokenizer.eos_token_id}
        configured = model.generation_config.eos_token_id
        eos |= set(configured) if isinstance(configured, list) else {configured}
        eos.discard(None)
        return Runner(
            adapters=AdapterSet(model, max_adapters=self._max_adapters),
            tokenizer=tokenizer,
            eos_ids=frozenset(eos),
            pad_id=tokenizer.pad_token_id,
            max_positions=model.config.max_position_embeddings,
            device=torch.device(self._device),
        )

    def _next_work(self) -> Command | list[Job] | None:
        """Block for work: a command, or a batch of jobs queued ahead of the next command."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            if isinstance(self._queue[0], Command):
                return self._queue.popleft()
            deadline = time.monotonic() + self._batch_window_s
            while self._leading_jobs() < self._max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[Job] = []
            while self._queue and isinstance(self._queue[0], Job) and len(batch) < self._max_batch:
                batch.append(self._queue.popleft())
            return batch

    def _leading_jobs(self) -> int:
        count = 0
        for item in self._queue:
            if not isinstance(item, Job):
                break
            count += 1
        return count

    def _drain_on_close(self) -> None:
        with self._cond:
            pending, self._queue = list(self._queue), deque()
        for item in pending:
            item.fail(RuntimeError("engine is closed"))
        self._runner = None  # drop the model so its memory can go
