"""Request bodies of /v1/threads and their messages, validated as OpenAI documents them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hilo.kit.schemas import Strict, WithMetadata


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

    @field_validator("tools")
    @classmethod
    def _runnable(cls, tools):
        for tool in tools or ():
            kind = tool.get("type")
            if kind == "code_interpreter":
                raise ValueError("attachments for code_interpreter are not supported by this server yet; "
                                 "attach files for file_search")
            if kind != "file_search":
                raise ValueError(f"attachment tools must be of type 'file_search', not {kind!r}")
        return tools


class MessageCreate(WithMetadata):
    role: Literal["user", "assistant"]
    content: str | list[ContentPart]
    attachments: list[Attachment] | None = None

    @field_validator("content")
    @classmethod
    def _not_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("content must not be empty")
        return v


class MessageUpdate(WithMetadata):
    pass


class ThreadCreate(WithMetadata):
    messages: list[MessageCreate] | None = Field(default=None, max_length=32)
    tool_resources: dict[str, Any] | None = None


class ThreadUpdate(WithMetadata):
    tool_resources: dict[str, Any] | None = None


__all__ = ["Attachment", "ContentPart", "MessageCreate", "MessageUpdate", "ThreadCreate", "ThreadUpdate"]
