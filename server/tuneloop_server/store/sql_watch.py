"""What watchers need from the store: how far each watched job's event log has got."""

from __future__ import annotations

import sqlalchemy as sa

from . import schema

CHUNK = 500  # ids per IN (...) list


class WatchQueries:
    read_engine: sa.Engine

    def last_seqs(self, job_ids: list[str]) -> dict[str, int]:
        """{job id: its highest event seq} for the ids that exist."""
        J = schema.jobs
        found: dict[str, int] = {}
        with self.read_engine.connect() as conn:
            for i in range(0, len(job_ids), CHUNK):
                rows = conn.execute(sa.select(J.c.id, J.c.last_seq).where(
                    J.c.id.in_(job_ids[i:i + CHUNK])))
                found.update({r.id: r.last_seq for r in rows})
        return found
