"""guided_test pack: a notes table (proves pack migrations run on their own branch)

Revision ID: gt01
Revises:
Create Date: 2026-11-24 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "gt01"
down_revision = None
branch_labels = ("guided_test",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "guided_test_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("guided_test_notes")
