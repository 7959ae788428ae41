"""The course table. It has its own metadata: hilo's core migrations never see it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hilo.kit.db.base import NAMING

LEVELS = ("básico", "intermedio", "avanzado")
MODALITIES = ("presencial", "virtual", "híbrido")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Course(Base):
    __tablename__ = "courses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))
    modality: Mapped[str] = mapped_column(String(16))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="COP")
    schedule: Mapped[str] = mapped_column(String(200))
    duration_weeks: Mapped[int] = mapped_column(Integer)
    hours: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date | None] = mapped_column(Date)
    city: Mapped[str | None] = mapped_column(String(100))  # None for online-only courses
    instructor: Mapped[str | None] = mapped_column(String(200))
    seats: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # multilingual-e5-small vector of name + level + description (float32 bytes), and the
    # hash of the text it was computed from: a stale or missing vector is recomputed once.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_key: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (Index("ix_courses_level_active", "level", "active"),)
