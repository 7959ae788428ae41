"""What every request body shares: strictness (unknown fields are a 400), integers that fit the
columns they land in, and OpenAI's metadata rules.

Integer columns are ``INTEGER`` (32-bit on PostgreSQL, 64-bit on SQLite) or ``BIGINT`` (64-bit
on both), so a request integer is checked against the narrower database: :data:`Int32` for an
``INTEGER`` column, :data:`Int64` for a ``BIGINT`` (and for SQL ``LIMIT``/``OFFSET``, which
PostgreSQL takes as ``bigint``). Both carry their range into the OpenAPI spec. A :class:`Strict`
body bounds every ``int`` field that declares no upper or lower bound of its own to the
:data:`Int32` range, so a new field is safe before anyone thinks about its column.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from annotated_types import Ge, Gt, Interval, Le, Lt
from pydantic import BaseModel, ConfigDict, Field, field_validator

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Int32 = Annotated[int, Interval(ge=INT32_MIN, le=INT32_MAX)]
"""An integer that fits an ``INTEGER`` column on every database hilo runs on."""

Int64 = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]
"""An integer that fits a ``BIGINT`` column (and PostgreSQL's ``LIMIT``/``OFFSET``)."""


def _is_int(annotation: Any) -> bool:
    """``int`` or ``int | None`` (not ``bool``, not a ``Literal`` of ints)."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return int in args and all(a in (int, type(None)) for a in args)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Give each ``int`` field without a bound the :data:`Int32` bound on that side."""
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for field in cls.model_fields.values():
            if not _is_int(field.annotation):
                continue
            if not any(isinstance(m, Le | Lt) for m in field.metadata):
                field.metadata.append(Le(INT32_MAX))
                changed = True
            if not any(isinstance(m, Ge | Gt) for m in field.metadata):
                field.metadata.append(Ge(INT32_MIN))
                changed = True
        if changed:
            cls.model_rebuild(force=True)


def check_metadata(value: dict[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    if len(value) > 16:
        raise ValueError("metadata can have at most 16 key-value pairs")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"metadata key '{key[:20]}...' is longer than 64 characters")
        if not isinstance(item, str):
            raise ValueError(f"metadata value for '{key}' must be a string")
        if len(item) > 512:
            raise ValueError(f"metadata value for '{key}' is longer than 512 characters")
    return value


Metadata = Annotated[dict[str, Any] | None, Field(default=None)]


class WithMetadata(Strict):
    metadata: Metadata

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v):
        return check_metadata(v)


__all__ = ["INT32_MAX", "INT32_MIN", "INT64_MAX", "INT64_MIN", "Int32", "Int64", "Metadata", "Strict",
           "WithMetadata", "check_metadata"]
