"""Request bodies of runs (create, create-and-run, submit_tool_outputs), validated as OpenAI
documents them. :func:`options_of` turns a body into the plain
:class:`~hilo.runs.options.RunOptions` the turn service takes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from hilo.assistants.schemas import ResponseFormat, dump_response_format
from hilo.kit.schemas import Strict, WithMetadata
from hilo.runs.options import UNSET, RunOptions
from hilo.threads.schemas import MessageCreate, ThreadCreate
from hilo.tools.schemas import Tools, dump_tools


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


class RunOptionsBody(WithMetadata):
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


class RunCreate(RunOptionsBody):
    assistant_id: str
    additional_instructions: str | None = None
    additional_messages: list[MessageCreate] | None = Field(default=None, max_length=32)


class ThreadAndRunCreate(RunOptionsBody):
    assistant_id: str
    thread: ThreadCreate | None = None
    tool_resources: dict[str, Any] | None = None


class RunUpdate(WithMetadata):
    pass


class ToolOutput(Strict):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputs(Strict):
    tool_outputs: list[ToolOutput] = Field(min_length=1)
    stream: bool | None = None


def options_of(body: RunOptionsBody, additional_instructions: str | None = None) -> RunOptions:
    """The plain run options a validated body asks for."""
    choice = body.tool_choice
    return RunOptions(
        model=body.model,
        instructions=body.instructions if "instructions" in body.model_fields_set else UNSET,
        additional_instructions=additional_instructions,
        tools=dump_tools(body.tools),
        temperature=body.temperature,
        top_p=body.top_p,
        max_prompt_tokens=body.max_prompt_tokens,
        max_completion_tokens=body.max_completion_tokens,
        truncation_strategy=body.truncation_strategy.model_dump() if body.truncation_strategy else None,
        tool_choice=choice if isinstance(choice, str) or choice is None else choice.model_dump(exclude_none=True),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=dump_response_format(body.response_format),
        metadata=body.metadata,
    )
