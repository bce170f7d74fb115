"""Records for the store tests."""

from __future__ import annotations

import time

from tuneloop_server.store.records import JobRecord, JobState


def job(job_id: str, key: str | None = None, tenant: str = "tn_a") -> JobRecord:
    return JobRecord(tenant_id=tenant, id=job_id, state=JobState.QUEUED, base_model="smollm2-135m",
                     dataset_id="ds", validation_dataset_id=None, adapter="a", method="lora", hyperparameters={},
                     include_feedback=False, created_at=time.time(), idempotency_key=key)
