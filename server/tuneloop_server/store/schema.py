"""Table definitions shared by the store and the alembic migrations' autogenerate checks."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

datasets = sa.Table(
    "datasets", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("format", sa.String(40)),
    sa.Column("num_examples", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("object_key", sa.String(500), nullable=False),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("base_model", sa.String(500), nullable=False),
    sa.Column("dataset_id", sa.String(40), nullable=False),
    sa.Column("validation_dataset_id", sa.String(40)),
    sa.Column("adapter", sa.String(100), nullable=False, index=True),
    sa.Column("method", sa.String(20), nullable=False),
    sa.Column("hyperparameters", sa.JSON, nullable=False),
    sa.Column("include_feedback", sa.Boolean, nullable=False),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("feedback_key", sa.String(500)),
    sa.Column("adapter_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    sa.Column("total_steps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker_id", sa.String(40)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    # Highest event seq written for this job; bumped in the same transaction as the insert,
    # which is what keeps seq gap-free and unique.
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("evaluation", sa.JSON),
    sa.Column("eval_key", sa.String(500)),
    sa.Column("previous_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("eval_scores", sa.JSON),
    sa.Column("promoted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("promotion_note", sa.Text, nullable=False, server_default=""),
    # A retried CreateJob finds its job by key, but only among its own tenant's jobs.
    sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
)

job_events = sa.Table(
    "job_events", metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("total_steps", sa.Integer, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

adapter_versions = sa.Table(
    "adapter_versions", metadata,
    # Adapter names are per tenant: two tenants may both own a "support" adapter.
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("base_model", sa.String(500), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=False, unique=True),
    sa.Column("object_key", sa.String(500), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

request_log = sa.Table(
    "request_log", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False, index=True),
    sa.Column("model", sa.String(500), nullable=False),
    sa.Column("adapter", sa.String(100)),
    sa.Column("adapter_version", sa.Integer, nullable=False),
    sa.Column("base_model", sa.String(500), nullable=False),
    sa.Column("messages", sa.JSON, nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False, index=True),
    sa.Column("request_id", sa.String(40), nullable=False),
    sa.Column("adapter", sa.String(100), index=True),
    sa.Column("adapter_version", sa.Integer, nullable=False),
    sa.Column("messages", sa.JSON, nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("correction", sa.Text, nullable=False),
    sa.Column("rating", sa.Integer),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

workers = sa.Table(
    "workers", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("accelerator", sa.String(20), nullable=False),
    sa.Column("memory_bytes", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
)

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    # NULL: the server's default limit applies.
    sa.Column("max_concurrent_jobs", sa.Integer),
    sa.Column("max_stored_bytes", sa.BigInteger),
    sa.Column("requests_per_second", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("tenant_id", sa.String(40), index=True),
    sa.Column("name", sa.String(200), nullable=False),
    # sha256 of the key's secret part; the secret itself is shown once and never stored.
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(40), index=True),
    sa.Column("actor", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("resource", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

adapters = sa.Table(
    "adapters", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("promoted_version", sa.Integer),
    sa.Column("retrain_policy", sa.JSON),
    sa.Column("policy_feedback_seen", sa.Integer, nullable=False, server_default="0"),
    sa.Column("policy_last_run", sa.Float),
)
