"""runs.user_id / runs.caller_scope (who a run answers for) and tool_grants (who may use a tool)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("user_id", _ID, nullable=True))
        batch.add_column(sa.Column("caller_scope", sa.String(16), nullable=True))
    op.create_table(
        "tool_grants",
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tool", "user_id", name=op.f("pk_tool_grants")),
    )


def downgrade() -> None:
    op.drop_table("tool_grants")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("caller_scope")
        batch.drop_column("user_id")
