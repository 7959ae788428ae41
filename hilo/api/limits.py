"""What every request is checked for before a route (or the database) sees it.

- :class:`RequestLimits` (ASGI middleware): request bodies are capped, multipart uploads at
  ``HILO_MAX_UPLOAD_MB`` (audio to transcribe at ``HILO_MAX_AUDIO_MB``: it is not stored) and
  every other body at ``HILO_MAX_REQUEST_MB`` (413, refused from
  ``Content-Length`` before anything is read, or as soon as the stream passes the cap); a path or
  query string holding a NUL character is refused with a 400 naming the parameter.
- :func:`check_inputs` (a dependency of every route): JSON bodies and form fields (keys, values,
  upload file names) holding a NUL character, a lone surrogate or an integer too large for a
  JSON column are refused with a 400 naming the field (:mod:`hilo.kit.inputs`).

Both answer in OpenAI's error shape, or in the shape the routes under a path prefix use
(``envelopes``: the seed facade's ``{"success": false, "error": ...}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from hilo.audio import too_large as audio_too_large
from hilo.files.service import too_large as upload_too_large
from hilo.kit.config import Settings
from hilo.kit.errors import HiloError, InvalidRequest, TooLarge
from hilo.kit.inputs import find_unstorable, json_suspect, text_problem

_FORMS = (b"multipart/form-data", b"application/x-www-form-urlencoded")
AUDIO_PATHS = ("/v1/audio/transcriptions", "/v1/audio/transcriptions/")  # audio is capped by HILO_MAX_AUDIO_MB


def invalid(param: str | None, reason: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid '{param}': {reason}." if param else f"The request body {reason}.", param=param)


def too_large_body(settings: Settings) -> TooLarge:
    return TooLarge(f"Request body too large: the limit is {settings.max_request_mb:g} MB (HILO_MAX_REQUEST_MB).",
                    code="request_too_large")


class RequestLimits:
    """Body caps and NUL-free paths and query strings, before routing."""

    SLACK = 64 * 1024  # multipart boundaries and form fields beside the file

    def __init__(self, app, settings: Settings, envelopes: dict[str, Callable[[HiloError], dict]] | None = None):
        self.app = app
        self.settings = settings
        self.upload_limit = settings.max_upload_bytes + self.SLACK
        self.audio_limit = settings.max_audio_bytes + self.SLACK
        self.body_limit = settings.max_request_bytes
        self.envelopes = envelopes or {}  # path prefix -> the error body routes there answer
        self._templates = None  # the spec's parametrised paths, compiled at the first bad path

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        bad = self._bad_path_or_query(scope)
        if bad is not None:
            return await self._refuse(send, scope["path"], bad)
        content_type = b""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        upload = content_type.startswith(b"multipart/")
        if upload and scope["path"] in AUDIO_PATHS:
            limit, error = self.audio_limit, audio_too_large
        elif upload:
            limit, error = self.upload_limit, upload_too_large
        else:
            limit, error = self.body_limit, too_large_body
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._refuse(send, scope["path"], error(self.settings), close=True)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # Raised inside the route's body read: the app's handlers answer it (413).
                raise StarletteHTTPException(413, detail=error(self.settings).message)
            return message

        return await self.app(scope, limited_receive, send)

    def _bad_path_or_query(self, scope) -> HiloError | None:
        path = scope["path"]
        if "\x00" in path or text_problem(path):
            param, reason = self._path_param(scope)
            return invalid(param, reason)
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                problem = text_problem(key)
                if problem:
                    return InvalidRequest(f"Invalid query string: parameter names {problem}.")
                problem = text_problem(value)
                if problem:
                    return invalid(key, problem)
        return None

    def _path_param(self, scope) -> tuple[str, str]:
        """The path parameter holding the bad character, by the spec's path templates."""
        if self._templates is None:
            app = scope.get("app")
            paths = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
            self._templates = [compile_path(path)[0] for path in paths if "{" in path]
        path = scope["path"]
        for regex in self._templates:
            match = regex.match(path)
            if match:
                for name, value in match.groupdict().items():
                    problem = text_problem(value)
                    if problem:
                        return name, problem
        return "path", text_problem(path) or "must not contain the NUL character (\\u0000)"

    async def _refuse(self, send, path: str, error: HiloError, close: bool = False) -> None:
        shape = next((fn for prefix, fn in self.envelopes.items() if path.startswith(prefix)), None)
        body = json.dumps(shape(error) if shape else error.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:  # the body was not read: the connection cannot be reused
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def check_inputs(request: Request) -> None:
    """Refuse a JSON body or form whose strings, keys or integers no database stores."""
    content_type = request.headers.get("content-type", "").encode("latin-1")
    if content_type.startswith(_FORMS):
        form = await request.form()  # FastAPI parsed it already for the routes that declare one: cached
        for key, value in form.multi_items():
            problem = text_problem(key)
            if problem:
                raise InvalidRequest(f"Invalid form: field names {problem}.")
            if isinstance(value, UploadFile):
                problem = text_problem(value.filename or "")
                if problem:
                    raise invalid(key, f"the file name {problem}")
            else:
                problem = text_problem(value)
                if problem:
                    raise invalid(key, problem)
        return
    body = await request.body()  # already read (and cached) for routes with a JSON body
    if body and json_suspect(body):
        try:
            data = json.loads(body)
        except ValueError:  # not JSON: the route (or FastAPI) answers that
            return
        found = find_unstorable(data)
        if found:
            raise invalid(*found)


__all__ = ["RequestLimits", "check_inputs", "invalid", "too_large_body"]
