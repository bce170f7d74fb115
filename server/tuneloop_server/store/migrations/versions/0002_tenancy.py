"""Tenancy: tenants, API keys, the audit log, and a tenant_id on every tenant-owned row.

Rows written before this revision belong to the tenant "default" (id tn_default), which
the embedded server also uses, so a data dir from an older version keeps working.

Revision ID: 0002
Revises: 0001
"""

import warnings

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DEFAULT_TENANT_ID = "tn_default"
OWNED_TABLES = ("datasets", "jobs", "adapter_versions", "request_log", "feedback")
# SQLite reflects the unnamed UNIQUE of 0001 without a name; this convention names it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s", "pk": "pk_%(table_name)s"}


def upgrade() -> None:
    _create_tenancy_tables()
    if _has_rows(OWNED_TABLES):
        op.get_bind().execute(sa.text(
            "INSERT INTO tenants (id, name, created_at) VALUES (:id, 'default', 0)"),
            {"id": DEFAULT_TENANT_ID})
    # Add with a default so existing rows get one, then drop the default: from here on every
    # insert must name its tenant, and a forgotten tenant_id fails loudly.
    for table in OWNED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tenant_id", sa.String(40), nullable=False,
                                       server_default=DEFAULT_TENANT_ID))
    for table in OWNED_TABLES:
        with op.batch_alter_table(table, naming_convention=NAMING) as batch:
            batch.alter_column("tenant_id", server_default=None)
            if table != "adapter_versions":
                batch.create_index(f"ix_{table}_tenant_id", ["tenant_id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("jobs", naming_convention=NAMING) as batch:
        batch.drop_constraint("jobs_idempotency_key_key" if postgres else "uq_jobs_idempotency_key",
                              type_="unique")
        batch.create_unique_constraint("uq_jobs_tenant_idempotency_key",
                                       ["tenant_id", "idempotency_key"])
    with warnings.catch_warnings():
        # SQLAlchemy notes that the copied table's primary key changed: that is the point.
        warnings.filterwarnings("ignore", message=".*primary_key=True, not matching")
        with op.batch_alter_table("adapter_versions", naming_convention=NAMING,
                                  recreate="always") as batch:
            if postgres:
                batch.drop_constraint("adapter_versions_pkey", type_="primary")
            batch.create_primary_key("pk_adapter_versions", ["tenant_id", "name", "version"])


def _create_tenancy_tables() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("max_concurrent_jobs", sa.Integer),
        sa.Column("max_stored_bytes", sa.BigInteger),
        sa.Column("requests_per_second", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("tenant_id", sa.String(40), index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(40), index=True),
        sa.Column("actor", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("resource", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
    )


def _has_rows(tables: tuple[str, ...]) -> bool:
    bind = op.get_bind()
    return any(bind.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first() for t in tables)


def downgrade() -> None:
    raise NotImplementedError("0002 adds tenancy; going back would merge every tenant's data")
