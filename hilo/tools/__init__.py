"""Server-side tools: the contract between the run engine and tool implementations.

An assistant enables a server-side tool by listing a function tool with just its name
(``{"type": "function", "function": {"name": "get_crypto_price"}}``): the official SDK
parses that, and hilo fills in the description and JSON schema from the Python
function at run time and executes the call itself. A function tool that carries its
own ``parameters`` stays client-side (``requires_action``), whatever its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(slots=True)
class ToolContext:
    """What a tool may know about the run that calls it."""

    run_id: str
    thread_id: str
    assistant_id: str
    services: dict[str, Any] = field(default_factory=dict)  # db, settings, providers, ...


@runtime_checkable
class ServerTool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]
    timeout: float

    async def invoke(self, arguments: str, context: ToolContext) -> str:
        """Run with the model's JSON arguments; return the output the model reads.

        Bad arguments and failures must come back as an output string (the run goes
        on), never as an exception."""
        ...


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, ServerTool] = {}

    def register(self, tool: ServerTool) -> ServerTool:
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> ServerTool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: str) -> bool:
        return name in self._tools


def server_tools_of(tools: list[dict[str, Any]], registry: ToolRegistry) -> dict[str, ServerTool]:
    """The server-side tools an assistant's (or run's) tool list enables."""
    found: dict[str, ServerTool] = {}
    for t in tools or ():
        fn = t.get("function") or {}
        if t.get("type") == "function" and "parameters" not in fn and fn.get("name") in registry:
            found[fn["name"]] = registry.get(fn["name"])
    return found
