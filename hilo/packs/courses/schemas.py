"""Request and response bodies of the admin endpoints.

Request bodies are :class:`hilo.kit.schemas.Strict`: unknown fields are a 400 and every integer
fits its ``INTEGER`` column (``seats`` declares :data:`~hilo.kit.schemas.Int32` itself)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hilo.kit.schemas import Int32, Strict
from hilo.nlu.lang import fold

Level = Literal["básico", "intermedio", "avanzado"]
Modality = Literal["presencial", "virtual", "híbrido"]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_CANONICAL = {fold(v): v for v in ("básico", "intermedio", "avanzado", "presencial", "virtual", "híbrido")}


def _canonical(value):
    return _CANONICAL.get(fold(value.strip()), value) if isinstance(value, str) else value


class CourseFields(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    level: Level
    modality: Modality
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "COP"
    schedule: Text200
    duration_weeks: Annotated[int, Field(ge=1, le=520)]
    hours: Annotated[int, Field(ge=1, le=10000)]
    start_date: date | None = None
    city: Text200 | None = None
    instructor: Text200 | None = None
    seats: Annotated[Int32, Field(ge=0)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)]
    active: bool = True

    _levels = field_validator("level", "modality", mode="before")(_canonical)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.strip().upper() if isinstance(value, str) else value


class CourseCreate(CourseFields):
    pass


class CourseUpdate(CourseFields):
    """Every field optional: only the ones sent change."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)] | None = None
    level: Level | None = None
    modality: Modality | None = None
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    schedule: Text200 | None = None
    duration_weeks: Annotated[int, Field(ge=1, le=520)] | None = None
    hours: Annotated[int, Field(ge=1, le=10000)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)] | None = None
    active: bool | None = None


class CourseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    object: Literal["course"] = "course"
    code: str | None
    name: str
    level: str
    modality: str
    price: float
    currency: str
    schedule: str
    duration_weeks: int
    hours: int
    start_date: date | None
    city: str | None
    instructor: str | None
    seats: int | None
    description: str
    active: bool
    created_at: int
    updated_at: int


class CourseList(BaseModel):
    object: Literal["list"] = "list"
    data: list[CourseOut]
    total: int
    limit: int
    offset: int
