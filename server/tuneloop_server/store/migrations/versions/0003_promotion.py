"""Evaluation-gated promotion and retrain policies: an `adapters` table and job columns.

Adapters published before this revision get no row: plain `name` then serves the newest
version, as it did.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapters",
        sa.Column("tenant_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("promoted_version", sa.Integer),
        sa.Column("retrain_policy", sa.JSON),
        sa.Column("policy_feedback_seen", sa.Integer, nullable=False, server_default="0"),
        sa.Column("policy_last_run", sa.Float),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("evaluation", sa.JSON))
        batch.add_column(sa.Column("eval_key", sa.String(500)))
        batch.add_column(sa.Column("previous_version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("eval_scores", sa.JSON))
        batch.add_column(sa.Column("promoted", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("promotion_note", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in ("promotion_note", "promoted", "eval_scores", "previous_version", "eval_key",
                       "evaluation"):
            batch.drop_column(column)
    op.drop_table("adapters")
