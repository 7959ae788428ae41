"""Errors in OpenAI's JSON shape: ``{"error": {"message", "type", "param", "code"}}``.

Every layer raises :class:`hilo.kit.errors.HiloError`; here it becomes a response with its
status. Request validation errors are 400s naming the parameter, unknown routes 404s, and
anything unexpected a 500 whose detail goes to the log only; a database that is away, a 503 with
``Retry-After``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hilo.kit.db import outage
from hilo.kit.errors import HiloError, InvalidRequest

log = logging.getLogger("hilo.api")


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param
    if kind == "json_invalid":
        return "We could not parse the JSON body of your request.", None
    msg = first.get("msg", "Invalid value")
    return (f"Invalid '{param}': {msg}." if param else f"{msg}."), param


def install(app: FastAPI) -> None:
    @app.exception_handler(HiloError)
    async def _hilo_error(_request: Request, exc: HiloError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        message, param = validation_message(exc)
        return JSONResponse(InvalidRequest(message, param=param).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = "Not found: no such route."
        elif exc.status_code == 405:
            message = "Method not allowed for this route."
        else:
            message = str(exc.detail)
        return JSONResponse(HiloError(message, status=exc.status_code).body(), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        if outage.unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            body = HiloError("The database is unavailable; try again in a few seconds.", status=503,
                             type="server_error", code="database_unavailable").body()
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(outage.RETRY_AFTER_S)})
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = HiloError("The server had an error while processing your request.", status=500,
                         type="server_error").body()
        return JSONResponse(body, status_code=500)
