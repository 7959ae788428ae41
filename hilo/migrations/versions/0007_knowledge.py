"""knowledge: vector_stores, vector_store_files (with ingestion leases), vector_store_file_batches,
knowledge_chunks (text, offsets, tokens, embedder, float32 vector)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
_CHUNK_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "vector_stores",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("description", sa.String(512), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("expires_after", sa.JSON(), nullable=True),
        sa.Column("last_active_at", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("user_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_stores")),
    )
    op.create_index(op.f("ix_vector_stores_user_id"), "vector_stores", ["user_id"])
    op.create_table(
        "vector_store_files",
        sa.Column("vector_store_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("chunking_strategy", sa.JSON(), nullable=False),
        sa.Column("batch_id", _ID, nullable=True),
        sa.Column("generation", sa.String(64), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("vector_store_id", "file_id", name=op.f("pk_vector_store_files")),
    )
    op.create_index(op.f("ix_vector_store_files_batch_id"), "vector_store_files", ["batch_id"])
    op.create_index("ix_vector_store_files_status_lease", "vector_store_files", ["status", "lease_until"])
    op.create_index("ix_vector_store_files_file_id", "vector_store_files", ["file_id"])
    op.create_table(
        "vector_store_file_batches",
        sa.Column("id", _ID, nullable=False),
        sa.Column("vector_store_id", _ID, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("cancelled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vector_store_file_batches")),
    )
    op.create_index(op.f("ix_vector_store_file_batches_vector_store_id"), "vector_store_file_batches",
                    ["vector_store_id"])
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", _CHUNK_ID, nullable=False, autoincrement=True),
        sa.Column("vector_store_id", _ID, nullable=False),
        sa.Column("file_id", _ID, nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_index", sa.Integer(), nullable=False),
        sa.Column("end_index", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("embedder", sa.String(128), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunks")),
    )
    op.create_index("ix_knowledge_chunks_store_file", "knowledge_chunks",
                    ["vector_store_id", "file_id", "ordinal"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_knowledge_chunks_store_file", table_name="knowledge_chunks")
    op.drop_table("knowledge_chunks")
    op.drop_index(op.f("ix_vector_store_file_batches_vector_store_id"), table_name="vector_store_file_batches")
    op.drop_table("vector_store_file_batches")
    op.drop_index("ix_vector_store_files_file_id", table_name="vector_store_files")
    op.drop_index("ix_vector_store_files_status_lease", table_name="vector_store_files")
    op.drop_index(op.f("ix_vector_store_files_batch_id"), table_name="vector_store_files")
    op.drop_table("vector_store_files")
    op.drop_index(op.f("ix_vector_stores_user_id"), table_name="vector_stores")
    op.drop_table("vector_stores")
