"""What every table shares: the declarative base, column types, plain-object records.

Each domain declares its own tables on :class:`Base` (``hilo/<domain>/models.py``); Alembic
sees them all through :mod:`hilo.migrations`. Ids sort by creation time (see
:mod:`hilo.kit.ids`), so every list is an indexed range scan on ``(parent_id, id)``. Objects are
stored close to their OpenAI JSON shape: the nested parts (content, tools, step details, ...)
are JSON columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, MetaData, String
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Ids are compared as bytes ("C" collation) so that ordering by id is creation order.
Id = String(64).with_variant(String(64, collation="C"), "postgresql")
Json = JSON(none_as_null=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    __kind__ = "object"  # how errors name a row of the table ("No thread found with id ...")


def row(obj: Base | Record) -> dict[str, Any]:
    """An unsaved object as column values, for a Core INSERT (no unit of work on hot paths)."""
    if isinstance(obj, Record):
        return obj.row()
    return {attr.columns[0].name: getattr(obj, attr.key) for attr in type(obj).__mapper__.column_attrs}


class Record:
    """A row held as a plain object: the mapped class's attribute names (``metadata_``, ...),
    none of the ORM's per-attribute bookkeeping. The turn path builds and reads these;
    :func:`record` makes one class per table."""

    __slots__ = ()
    _columns: tuple[tuple[str, str], ...] = ()  # (attribute, column)

    def __init__(self, **values: Any):
        for key, _column in self._columns:
            setattr(self, key, values.pop(key, None))
        if values:
            raise TypeError(f"{type(self).__name__} has no attribute(s) {sorted(values)}")

    def row(self) -> dict[str, Any]:
        return {column: getattr(self, key) for key, column in self._columns}

    @classmethod
    def from_values(cls, values) -> Record:
        """From column values in the order of :meth:`columns` (extra trailing values ignored)."""
        record = cls.__new__(cls)
        for (key, _column), value in zip(cls._columns, values, strict=False):
            setattr(record, key, value)
        return record

    @classmethod
    def copy_of(cls, obj: Any) -> Record:
        """A record with the same attribute values as ``obj`` (an ORM instance or a record)."""
        return cls(**{key: getattr(obj, key) for key, _column in cls._columns})

    @classmethod
    def columns(cls) -> list[str]:
        return [column for _key, column in cls._columns]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={getattr(self, 'id', None)!r})"


def record(model: type[Base]) -> type[Record]:
    columns = tuple((attr.key, attr.columns[0].name) for attr in model.__mapper__.column_attrs)
    return type(f"{model.__name__}Record", (Record,), {"__slots__": tuple(k for k, _ in columns), "_columns": columns})
