"""users, identities, active threads, API keys; owners of threads, assistants and files

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
Json = sa.JSON(none_as_null=True)
OWNED = ("assistants", "threads", "files")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("entitlements", Json, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "identities",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "subject", name=op.f("pk_identities")),
    )
    op.create_index(op.f("ix_identities_user_id"), "identities", ["user_id"])
    op.create_table(
        "user_threads",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("assistant_id", Id, nullable=False),
        sa.Column("thread_id", Id, nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "assistant_id", name=op.f("pk_user_threads")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("hash", name=op.f("uq_api_keys_hash")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"])
    for table in OWNED:
        op.add_column(table, sa.Column("user_id", Id, nullable=True))
        op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"])


def downgrade() -> None:
    for table in OWNED:
        op.drop_index(op.f(f"ix_{table}_user_id"), table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("user_id")
    op.drop_table("api_keys")
    op.drop_table("user_threads")
    op.drop_table("identities")
    op.drop_table("users")
