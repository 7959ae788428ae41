"""What every request body shares: strictness (unknown fields are a 400) and OpenAI's metadata rules."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


__all__ = ["Metadata", "Strict", "WithMetadata", "check_metadata"]
