"""A run's options as plain values: what the turn service takes from every entry.

Anything left unset comes from the assistant (model, instructions, tools, temperature, top_p,
response_format) or from OpenAI's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET", "__bool__": lambda self: False})()


@dataclass(slots=True)
class RunOptions:
    model: str | None = None
    instructions: Any = UNSET  # UNSET: the assistant's; None or a string replaces them
    additional_instructions: str | None = None
    tools: list[dict[str, Any]] | None = None  # None: the assistant's
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: Any = None  # None: the assistant's
    metadata: dict[str, str] | None = None


DEFAULT = RunOptions()

__all__ = ["DEFAULT", "UNSET", "RunOptions"]
