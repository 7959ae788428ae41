"""Tool definitions as the Assistants API takes them (``tools`` of assistants and runs)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not FUNCTION_NAME.match(v):
            raise ValueError("function name must match ^[a-zA-Z0-9_-]{1,64}$")
        return v


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function", "code_interpreter", "file_search"]
    function: FunctionDef | None = None

    @model_validator(mode="after")
    def _function_needs_def(self):
        if self.type == "function" and self.function is None:
            raise ValueError("tools of type 'function' need a 'function' definition")
        return self


Tools = Annotated[list[Tool] | None, Field(default=None, max_length=128)]


def dump_tools(tools: list[Tool] | None) -> list[dict] | None:
    if tools is None:
        return None
    return [t.model_dump(exclude_none=True) for t in tools]


__all__ = ["FunctionDef", "Tool", "Tools", "dump_tools"]
