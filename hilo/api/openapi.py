"""The OpenAPI spec as hilo answers, not as FastAPI guesses.

- Errors: FastAPI documents a 422 with its own body; hilo answers every refusal (400, 401, 403,
  404, 409, 413, 429, ...) in OpenAI's shape, so each operation documents a ``default`` response
  with the :data:`ERROR` schema, or the shape the routes under a prefix use (``shapes``: the seed
  facade's envelope).
- Links: a create operation (``POST`` on a collection path) links to the operations on the
  object it created, so a client (or a stateful fuzzer) can follow ``POST /v1/threads`` to
  ``GET /v1/threads/{thread_id}``, ``POST /v1/threads/{thread_id}/messages`` and so on: the
  new id comes from ``$response.body#/id``, the collection path's own parameters from the
  request that created it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
    }},
}
_PARAM = re.compile(r"\{([^}]+)\}")


def _links(paths: dict[str, dict]) -> None:
    for path, ops in paths.items():
        create = ops.get("post")
        if create is None or path.endswith("}"):
            continue
        success = next((code for code in ("201", "200") if code in create.get("responses", {})), None)
        if success is None:
            continue
        own = _PARAM.findall(path)
        links: dict[str, Any] = {}
        for target, target_ops in paths.items():
            match = re.fullmatch(re.escape(path) + r"/\{([^}]+)\}(/.*)?", target)
            if not match:
                continue
            parameters = {match.group(1): "$response.body#/id", **{p: f"$request.path.{p}" for p in own}}
            for op in target_ops.values():
                if "operationId" in op:
                    links[op["operationId"]] = {"operationId": op["operationId"], "parameters": parameters}
        if links:
            create["responses"][success]["links"] = links


def install(app: FastAPI, shapes: dict[str, dict[str, Any]] | None = None) -> None:
    """Replace ``app.openapi`` (``shapes``: path prefix -> the error body schema routes there use)."""
    generate = app.openapi
    shapes = shapes or {}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path, ops in spec.get("paths", {}).items():
            shape = next((s for prefix, s in shapes.items() if path.startswith(prefix)), {"$ref": "#/components/schemas/Error"})
            for op in ops.values():
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                responses["default"] = {"description": "An error (4xx), in the body shown",
                                        "content": {"application/json": {"schema": shape}}}
        _links(spec.get("paths", {}))
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


__all__ = ["ERROR", "install"]
