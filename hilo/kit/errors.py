"""Errors below HTTP: every layer raises these; the HTTP layer turns them into responses.

Each error carries the status an HTTP caller should see and OpenAI's error fields
(``type``, ``param``, ``code``), so a domain never needs FastAPI to refuse a request, and a
channel (the WebSocket, WhatsApp, the seed facades) can read the same error and phrase it
its own way.
"""

from __future__ import annotations


class HiloError(Exception):
    """A refusal with the status and OpenAI error fields an HTTP caller gets."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(HiloError):
    status = 400


class Unauthorized(HiloError):
    status = 401


class Forbidden(HiloError):
    status = 403


class NotFound(HiloError):
    status = 404


class Conflict(HiloError):
    status = 409


class TooLarge(HiloError):
    status = 413


class RateLimited(HiloError):
    status = 429
    type = "requests"


class Unavailable(HiloError):
    status = 503
    type = "server_error"


def not_found(kind: str, object_id: str) -> NotFound:
    return NotFound(f"No {kind} found with id '{object_id}'.")


def bad_request(message: str, param: str | None = None, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def forbidden(message: str, code: str = "permission_denied") -> Forbidden:
    return Forbidden(message, code=code)


__all__ = ["Conflict", "Forbidden", "HiloError", "InvalidRequest", "NotFound", "RateLimited", "TooLarge",
           "Unauthorized", "Unavailable", "bad_request", "forbidden", "not_found"]
