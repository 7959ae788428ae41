"""Request bodies of the Assistants API v2, validated as OpenAI documents them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


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


class _MetadataMixin(Strict):
    metadata: Metadata

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v):
        return check_metadata(v)


class AssistantCreate(_MetadataMixin):
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


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ImageURL(Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not (v.startswith("https://") or v.startswith("http://") or v.startswith("data:image/")):
            raise ValueError("image_url.url must be an http(s) URL or a data:image/ URL")
        return v


class ImageURLPart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class ImageFile(Strict):
    file_id: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(Strict):
    type: Literal["image_file"]
    image_file: ImageFile


ContentPart = Annotated[TextPart | ImageURLPart | ImageFilePart, Field(discriminator="type")]


class Attachment(BaseModel):
    model_config = ConfigDict(extra="allow")
    file_id: str
    tools: list[dict[str, Any]] | None = None


class MessageCreate(_MetadataMixin):
    role: Literal["user", "assistant"]
    content: str | list[ContentPart]
    attachments: list[Attachment] | None = None

    @field_validator("content")
    @classmethod
    def _not_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("content must not be empty")
        return v


class MessageUpdate(_MetadataMixin):
    pass


class ThreadCreate(_MetadataMixin):
    messages: list[MessageCreate] | None = Field(default=None, max_length=32)
    tool_resources: dict[str, Any] | None = None


class ThreadUpdate(_MetadataMixin):
    tool_resources: dict[str, Any] | None = None


class TruncationStrategy(Strict):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _needs_count(self):
        if self.type == "last_messages" and self.last_messages is None:
            raise ValueError("truncation_strategy of type 'last_messages' needs last_messages")
        return self


class ToolChoiceFunction(Strict):
    name: str


class ToolChoiceObject(Strict):
    type: Literal["function", "code_interpreter", "file_search"]
    function: ToolChoiceFunction | None = None


class _RunOptions(_MetadataMixin):
    model: str | None = Field(default=None, max_length=256)
    instructions: str | None = None
    tools: Tools
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool | None = None
    max_prompt_tokens: int | None = Field(default=None, ge=256)
    max_completion_tokens: int | None = Field(default=None, ge=16)
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoiceObject | None = None
    parallel_tool_calls: bool | None = None
    response_format: Literal["auto"] | ResponseFormat | None = None
    reasoning_effort: str | None = None


class RunCreate(_RunOptions):
    assistant_id: str
    additional_instructions: str | None = None
    additional_messages: list[MessageCreate] | None = Field(default=None, max_length=32)


class ThreadAndRunCreate(_RunOptions):
    assistant_id: str
    thread: ThreadCreate | None = None
    tool_resources: dict[str, Any] | None = None


class RunUpdate(_MetadataMixin):
    pass


class ToolOutput(Strict):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputs(Strict):
    tool_outputs: list[ToolOutput] = Field(min_length=1)
    stream: bool | None = None
