"""Wake-ups for watchers and idle workers inside one control-plane process.

The database is the source of truth; these signals only shorten the wait. A watcher or a
long-polling worker also re-checks the database on a timeout, which is what makes several
control-plane replicas on one database work without a message bus.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


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
        self.queue = Signal()

    def job(self, job_id: str) -> Signal:
        return self._jobs[job_id]

    def job_changed(self, job_id: str) -> None:
        if job_id in self._jobs:
            self._jobs[job_id].fire()
