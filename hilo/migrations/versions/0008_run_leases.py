"""run_leases: which worker executes a queued run, until when (scale-out with ``hilo worker``)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_leases",
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_index("ix_run_leases_owner", "run_leases", ["owner"])
    op.create_index("ix_run_leases_until_ms", "run_leases", ["until_ms"])


def downgrade() -> None:
    op.drop_table("run_leases")
