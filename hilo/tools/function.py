"""Typed Python functions as server-side tools.

The JSON schema, the argument validation and the description come from the signature
and the Google-style docstring. A bad argument or a failure becomes the tool's output
(an ``{"error": ...}`` JSON the model can read and correct), never an exception::

    @tool(examples=["¿cuánto vale bitcoin?", "BTC price"],
          template={"es": "{symbol} vale {price} {quote}.", "en": "{symbol} is {price} {quote}."})
    async def get_crypto_price(symbol: str, ctx: ToolContext) -> dict:
        \"\"\"Current price of a cryptocurrency.

        Args:
            symbol: Ticker such as BTC or ETH.
        \"\"\"

A parameter annotated :class:`~hilo.tools.ToolContext` is injected, not shown to the model.
``access`` says who may use the tool (:mod:`hilo.tools.permissions`): ``restricted`` (the
default) or ``public``.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import ConfigDict, Field, ValidationError, create_model

from hilo.tools.context import ToolContext, ToolResult

_ARG_LINE = re.compile(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")
_SECTIONS = {"Returns:", "Raises:", "Examples:", "Yields:", "Note:", "Notes:"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Summary and per-argument descriptions from a Google-style docstring."""
    if not doc:
        return "", {}
    summary: list[str] = []
    args: dict[str, str] = {}
    section, current, arg_indent = "summary", None, None
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            section, current, arg_indent = "args", None, None
        elif stripped in _SECTIONS:
            section = "other"
        elif section == "summary":
            summary.append(stripped)
        elif section == "args" and stripped:
            match = _ARG_LINE.match(stripped)
            if match and (arg_indent is None or indent <= arg_indent):
                arg_indent = indent
                current = match.group(1)
                args[current] = match.group(2).strip()
            elif current:
                args[current] = f"{args[current]} {stripped}".strip()
    return " ".join(x for x in summary if x), args


@dataclass
class FunctionTool:
    """A server-side tool made from a typed (async or sync) function."""

    fn: Callable[..., Any]
    name: str
    description: str
    parameters: dict[str, Any]
    timeout: float = 10.0
    access: str = "restricted"  # or "public" (hilo.tools.permissions)
    examples: list[str] = field(default_factory=list)
    template: dict[str, str] = field(default_factory=dict)  # language -> format string
    # For the guided provider: a regex the (accent-folded, lower-case) message must match before
    # the tool is chosen, for tools that act ("quiero", "agrega"): a question never triggers them.
    cue: str | None = None
    context_param: str | None = None
    _model: Any = None

    async def call(self, arguments: dict[str, Any], context: ToolContext | None = None) -> Any:
        """Validate and call; raises pydantic's ValidationError on bad arguments."""
        validated = self._model.model_validate(arguments)
        kwargs = {k: getattr(validated, k) for k in self._model.model_fields}
        if self.context_param:
            kwargs[self.context_param] = context
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def invoke(self, arguments: str, context: ToolContext) -> str | ToolResult:
        try:
            args = json.loads(arguments) if arguments.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return json.dumps({"error": f"invalid JSON arguments: {exc}", "error_type": "invalid_arguments"})
        try:
            result = await self.call(args, context)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return json.dumps({"error": f"invalid arguments for {self.name}: {problems}",
                               "error_type": "invalid_arguments"}, ensure_ascii=False)
        except ToolError as exc:
            return json.dumps({"error": str(exc)}, ensure_ascii=False)
        if isinstance(result, str | ToolResult):
            return result
        return json.dumps(result, ensure_ascii=False, default=str)

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                  "parameters": self.parameters}}


class ToolError(Exception):
    """Raise inside a tool for an expected failure; its message becomes the tool's output."""


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    examples: list[str] | None = None,
    template: dict[str, str] | str | None = None,
    timeout: float = 10.0,
    access: str = "restricted",
    cue: str | None = None,
) -> Any:
    """Decorator: turn a typed function into a :class:`FunctionTool`."""
    if access not in ("public", "restricted"):
        raise ValueError("access must be 'public' or 'restricted'")

    def wrap(func: Callable[..., Awaitable[Any]] | Callable[..., Any]) -> FunctionTool:
        summary, arg_docs = parse_docstring(func.__doc__)
        hints = get_type_hints(func)
        fields: dict[str, Any] = {}
        context_param = None
        for pname, param in inspect.signature(func).parameters.items():
            annotation = hints.get(pname, Any)
            if annotation is ToolContext:
                context_param = pname
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (annotation, Field(default, description=arg_docs.get(pname)))
        model = create_model(f"{func.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)
        parameters = _strip_titles(model.model_json_schema())
        parameters.setdefault("properties", {})
        parameters["additionalProperties"] = False
        templates = {"en": template} if isinstance(template, str) else dict(template or {})
        return FunctionTool(
            fn=func, name=name or func.__name__, description=description or summary,
            parameters=parameters, timeout=timeout, access=access, examples=list(examples or []),
            template=templates, cue=cue, context_param=context_param, _model=model,
        )

    return wrap(fn) if fn is not None else wrap
