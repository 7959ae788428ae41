"""pack assistants: the stable id of each assistant a pack defines

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pack_assistants",
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("assistant_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_pack_assistants")),
    )


def downgrade() -> None:
    op.drop_table("pack_assistants")
