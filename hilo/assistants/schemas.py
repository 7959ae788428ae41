"""Request bodies of /v1/assistants, validated as OpenAI documents them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hilo.kit.schemas import WithMetadata
from hilo.tools.schemas import Tools


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema(self):
        if self.type == "json_schema" and not (self.json_schema and self.json_schema.get("name")):
            raise ValueError("response_format of type 'json_schema' needs json_schema.name")
        return self


def dump_response_format(value: Any) -> Any:
    if value is None or value == "auto":
        return value
    return value.model_dump(exclude_none=True)


class AssistantCreate(WithMetadata):
    model: str = Field(min_length=1, max_length=256)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: Tools
    tool_resources: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: Literal["auto"] | ResponseFormat | None = None
    reasoning_effort: str | None = None


class AssistantUpdate(AssistantCreate):
    model: str | None = Field(default=None, min_length=1, max_length=256)


__all__ = ["AssistantCreate", "AssistantUpdate", "ResponseFormat", "dump_response_format"]
