"""The one narrow interface between the run engine and any model.

A provider takes a :class:`ModelRequest` (chat messages in OpenAI's chat-completions
shape, plus tool schemas and sampling options) and yields a stream of
:class:`TextDelta`, :class:`ToolCallDelta` and finally one :class:`Finish`.
Everything else (retries, HTTP clients, local weights) stays inside the provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ChatMessage = dict[str, Any]  # {"role": ..., "content": str | list[part], "tool_calls"?: [...]}


@dataclass(slots=True)
class ModelRequest:
    model: str
    messages: list[ChatMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)  # [{"type":"function","function":{...}}]
    tool_choice: Any = None  # "auto" | "none" | "required" | {"type":"function","function":{"name":...}}
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None  # {"type":"text"|"json_object"|"json_schema",...}
    # Who answers: the run's assistant (hilo.tools.AssistantInfo: id, name, metadata). Model
    # providers ignore it; the guided provider answers as that assistant (its pack profile).
    assistant: Any = None
    # The tool calls of the thread's earlier runs ({"name", "arguments", "output"}, oldest
    # first), for a provider that sets ``wants_earlier_tools`` (the guided provider resolves
    # "el más barato" against what it listed last). Empty for every other provider.
    earlier_tools: list[dict[str, Any]] = field(default_factory=list)


def sampling_options(request: ModelRequest) -> dict[str, Any]:
    """The sampling options the request sets (temperature, top_p, max_tokens), and no others."""
    options = {"temperature": request.temperature, "top_p": request.top_p, "max_tokens": request.max_tokens}
    return {k: v for k, v in options.items() if v is not None}


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of one tool call; fragments with the same ``index`` belong together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Finish:
    reason: str = "stop"  # stop | tool_calls | length | content_filter
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


ModelEvent = TextDelta | ToolCallDelta | Finish


class ProviderError(Exception):
    """The model could not answer. ``code`` follows OpenAI's run ``last_error`` codes."""

    def __init__(self, message: str, code: str = "server_error", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


@runtime_checkable
class ModelProvider(Protocol):
    name: str
    supports_images: bool
    context_tokens: int

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]: ...

    async def check(self) -> tuple[bool, str]:
        """Is the model reachable? Returns (ok, human-readable detail)."""
        ...

    async def aclose(self) -> None: ...
