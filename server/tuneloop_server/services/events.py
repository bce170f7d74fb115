"""Wake-ups for watchers and idle workers inside one control-plane process.

The database is the source of truth; these signals only shorten the wait. Events written
through this process fire their job's signal at once. For events written through another
replica, one `ChangePoller` per process reads the event-log position of every watched job
in a single query each interval and fires the signals of those that moved: a thousand
watchers cost one query per interval, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger(__name__)


class Signal:
    """A level-triggered broadcast: `wait()` returns after the next `fire()` or the timeout."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def snapshot(self) -> asyncio.Event:
        """Take before checking the database, then wait on it: no fire() in between is lost."""
        return self._event

    @staticmethod
    async def wait(snapshot: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(snapshot.wait(), timeout)
        except asyncio.TimeoutError:
            pass


class EventHub:
    def __init__(self) -> None:
        self._jobs: dict[str, Signal] = defaultdict(Signal)
        self._watchers: Counter[str] = Counter()
        self._seen_seq: dict[str, int] = {}
        self.queue = Signal()

    def job(self, job_id: str) -> Signal:
        return self._jobs[job_id]

    def job_changed(self, job_id: str) -> None:
        if job_id in self._jobs:
            self._jobs[job_id].fire()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[Signal]:
        """The job's signal, registered with the change poller while the block runs."""
        self._watchers[job_id] += 1
        try:
            yield self._jobs[job_id]
        finally:
            self._watchers[job_id] -= 1
            if self._watchers[job_id] <= 0:
                del self._watchers[job_id]
                self._jobs.pop(job_id, None)
                self._seen_seq.pop(job_id, None)

    def watched(self) -> list[str]:
        return list(self._watchers)

    def seq_moved(self, positions: dict[str, int]) -> None:
        """Fire the jobs whose event log grew since the last poll."""
        for job_id, seq in positions.items():
            if self._seen_seq.get(job_id) != seq:
                if job_id in self._seen_seq:
                    self.job_changed(job_id)
                self._seen_seq[job_id] = seq


async def poll_changes_forever(hub: EventHub, last_seqs: Callable[[list[str]], dict[str, int]],
                               interval: float = 0.5) -> None:
    while True:
        try:
            ids = hub.watched()
            if ids:
                hub.seq_moved(await asyncio.to_thread(last_seqs, ids))
        except Exception:
            log.exception("change poller failed; retrying")
        await asyncio.sleep(interval)
