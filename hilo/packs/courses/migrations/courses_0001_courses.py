"""The courses table, with full-text search: FTS5 on SQLite, unaccent (when allowed) on PostgreSQL.

Revision ID: courses_0001
Depends on: 0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "courses_0001"
down_revision = None
branch_labels = ("courses",)
depends_on = "0001"

log = logging.getLogger("hilo.packs.courses")

_FTS = [
    """CREATE VIRTUAL TABLE courses_fts USING fts5(name, description, level, modality, content='courses',
       content_rowid='id', tokenize="unicode61 remove_diacritics 2")""",
    """CREATE TRIGGER courses_fts_insert AFTER INSERT ON courses BEGIN
       INSERT INTO courses_fts(rowid, name, description, level, modality)
       VALUES (new.id, new.name, new.description, new.level, new.modality); END""",
    """CREATE TRIGGER courses_fts_delete AFTER DELETE ON courses BEGIN
       INSERT INTO courses_fts(courses_fts, rowid, name, description, level, modality)
       VALUES ('delete', old.id, old.name, old.description, old.level, old.modality); END""",
    """CREATE TRIGGER courses_fts_update AFTER UPDATE OF name, description, level, modality ON courses BEGIN
       INSERT INTO courses_fts(courses_fts, rowid, name, description, level, modality)
       VALUES ('delete', old.id, old.name, old.description, old.level, old.modality);
       INSERT INTO courses_fts(rowid, name, description, level, modality)
       VALUES (new.id, new.name, new.description, new.level, new.modality); END""",
]


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="COP"),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("duration_weeks", sa.Integer, nullable=False),
        sa.Column("hours", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=True),
        sa.Column("city", sa.String(100), nullable=True),
        sa.Column("instructor", sa.String(200), nullable=True),
        sa.Column("seats", sa.Integer, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=True),
        sa.Column("embedding_key", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_courses"),
        sa.UniqueConstraint("code", name="uq_courses_code"),
        sa.CheckConstraint("level IN ('básico', 'intermedio', 'avanzado')", name="ck_courses_level"),
        sa.CheckConstraint("modality IN ('presencial', 'virtual', 'híbrido')", name="ck_courses_modality"),
        sa.CheckConstraint("price >= 0", name="ck_courses_price"),
    )
    op.create_index("ix_courses_level_active", "courses", ["level", "active"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _FTS:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        try:  # needs CREATE on the database; without it search falls back to LIKE
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        except sa.exc.DBAPIError as exc:
            log.warning("unaccent is not available (%s); course search will use LIKE", exc)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("courses_fts_insert", "courses_fts_delete", "courses_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS courses_fts")
    op.drop_index("ix_courses_level_active", table_name="courses")
    op.drop_table("courses")
