"""The tools a server has: registered server-side tools, tool kinds, and the permission check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from hilo.kit.errors import InvalidRequest
from hilo.tools.context import ToolContext, ToolResult
from hilo.tools.permissions import ToolPolicy, refusal


@runtime_checkable
class ServerTool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]
    timeout: float
    access: str  # "public" | "restricted" (hilo.tools.permissions)

    async def invoke(self, arguments: str, context: ToolContext) -> str | ToolResult:
        """Run with the model's JSON arguments; return the output the model reads.

        Bad arguments and failures must come back as an output string (the run goes
        on), never as an exception."""
        ...


class ToolKind(Protocol):
    """One ``type`` of the Assistants API's ``tools`` list.

    A kind other than ``function`` that hilo runs itself (``file_search``) also has
    ``server_tool(definition) -> ServerTool``: the tool the engine executes, which the model sees
    as a function of the same name. Its calls are recorded in run steps as calls of the kind's
    ``type`` (:attr:`ServerTool.step_type`), not as function calls."""

    type: str

    def check(self, definition: Mapping[str, Any], registry: ToolRegistry) -> None:
        """Refuse a definition this kind cannot run (raise :class:`InvalidRequest`)."""
        ...


class FunctionKind:
    """``function``: a server-side tool named alone, or a client-side function."""

    type = "function"

    def check(self, definition: Mapping[str, Any], registry: ToolRegistry) -> None:
        if not (definition.get("function") or {}).get("name"):
            raise InvalidRequest("A tool of type 'function' needs function.name.", param="tools")


class ToolRegistry:
    def __init__(self, policy: ToolPolicy | None = None) -> None:
        self._tools: dict[str, ServerTool] = {}
        self.packs: dict[str, str] = {}  # tool name -> the pack that registered it
        self.kinds: dict[str, ToolKind] = {}
        self.policy = policy or ToolPolicy()
        self.register_kind(FunctionKind())

    # ------------------------------------------------------------------ registration
    def register(self, tool: ServerTool, pack: str | None = None) -> ServerTool:
        self._tools[tool.name] = tool
        if pack:
            self.packs[tool.name] = pack
        return tool

    def register_kind(self, kind: ToolKind) -> None:
        self.kinds[kind.type] = kind

    def get(self, name: str) -> ServerTool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    # ------------------------------------------------------------------ a tools list
    def server_tools(self, definitions: Iterable[Mapping[str, Any]] | None) -> dict[str, ServerTool]:
        """The server-side tools a tools list enables (function tools named alone)."""
        found: dict[str, ServerTool] = {}
        for t in definitions or ():
            fn = t.get("function") or {}
            if t.get("type") == "function" and "parameters" not in fn and fn.get("name") in self._tools:
                found[fn["name"]] = self._tools[fn["name"]]
            elif (tool := self._kind_tool(t)) is not None:
                found[tool.name] = tool
        return found

    def _kind_tool(self, definition: Mapping[str, Any]) -> ServerTool | None:
        kind = self.kinds.get(definition.get("type")) if definition.get("type") != "function" else None
        make = getattr(kind, "server_tool", None)
        return make(definition) if make is not None else None

    def model_schemas(self, definitions: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        """What the model sees: function tools, server-side ones with their own schema."""
        schemas = []
        for t in definitions or ():
            if t.get("type") != "function":
                if (tool := self._kind_tool(t)) is not None:
                    schemas.append({"type": "function", "function": {
                        "name": tool.name, "description": tool.description, "parameters": tool.parameters}})
                continue
            fn = t.get("function") or {}
            tool = self._tools.get(fn.get("name")) if "parameters" not in fn else None
            if tool is not None:
                fn = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
            schemas.append({"type": "function", "function": fn})
        return schemas

    async def validate(self, definitions: Iterable[Mapping[str, Any]] | None, subject: str | None,
                       param: str = "tools") -> None:
        """400 for a tool this server cannot run, or a restricted tool ``subject`` may not use
        (``subject``: a user id, None for the operator; see :mod:`hilo.tools.permissions`)."""
        definitions = list(definitions or ())
        for t in definitions:
            kind = self.kinds.get(t.get("type"))
            if kind is None:
                raise InvalidRequest(f"Tools of type '{t.get('type')}' are not supported by this server yet; "
                                     "use function tools.", param=param, code="unsupported_tool")
            kind.check(t, self)
        for name in sorted(await self.refused(self.server_tools(definitions), subject)):
            raise InvalidRequest(refusal(name), param=param, code="tool_not_permitted")

    async def refused(self, tools: Mapping[str, ServerTool], subject: str | None) -> set[str]:
        """The names among ``tools`` that may not run for ``subject``."""
        if subject is None:
            return set()
        return {name for name, tool in tools.items() if not await self.policy.permitted(tool, subject)}


__all__ = ["FunctionKind", "ServerTool", "ToolKind", "ToolRegistry"]
