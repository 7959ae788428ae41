"""Logs: the ids of what is going on, JSON lines on request, and no secrets.

* :data:`REQUEST_ID`, :data:`THREAD_ID`, :data:`RUN_ID`: context variables set by the request
  middleware (:mod:`hilo.kit.observe.asgi`), the turn service and the engine. A run's task
  inherits the request's context, so its lines carry the request that created it too.
* ``HILO_LOG_FORMAT=json``: one JSON object per line with ``time``, ``level``, ``logger``,
  ``message`` and the ids that are known (``request_id``, ``thread_id``, ``run_id``), plus
  ``exc`` with the traceback of an exception. ``text`` (the default) keeps the usual lines.
* In both formats a filter masks what looks like a credential: ``Bearer ...`` and the values
  of ``token=``, ``api_key=``, ``key=``, ``secret=``, ``password=``, ``signature=`` (uvicorn logs
  a WebSocket's path with its query string, where ``?token=`` may be). hilo itself never logs
  Authorization headers, API keys or message bodies at info level.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("hilo_request_id", default=None)
THREAD_ID: ContextVar[str | None] = ContextVar("hilo_thread_id", default=None)
RUN_ID: ContextVar[str | None] = ContextVar("hilo_run_id", default=None)

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_SECRET = re.compile(
    r"(?i)(\bbearer\s+)[^\s\"',;]+"
    r"|((?:[?&;\s]|\b)(?:token|access_token|api_key|apikey|key|secret|password|signature|hub\.verify_token)=)[^&\s\"']+"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactSecrets(logging.Filter):
    """Masks bearer tokens and credential-like query values in a record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("request_id", REQUEST_ID), ("thread_id", THREAD_ID), ("run_id", RUN_ID)):
            value = var.get()
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out, default=str).decode()


def config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for hilo's and uvicorn's loggers (``hilo serve`` passes it
    to uvicorn as ``log_config``). ``text`` keeps uvicorn's own formatters for its loggers."""
    if fmt not in FORMATS:
        raise ValueError(f"HILO_LOG_FORMAT must be text or json, not {fmt!r}")
    level = level.upper()
    filters = {"redact": {"()": RedactSecrets}}
    if fmt == "json":
        formatters: dict[str, Any] = {"json": {"()": JsonFormatter}}
        handlers = {"default": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"],
                                "stream": "ext://sys.stderr"}}
        return {"version": 1, "disable_existing_loggers": False, "filters": filters, "formatters": formatters,
                "handlers": handlers, "root": {"handlers": ["default"], "level": level},
                "loggers": {"uvicorn": {"level": level, "handlers": [], "propagate": True},
                            "uvicorn.error": {"level": level, "propagate": True},
                            "uvicorn.access": {"level": level, "handlers": [], "propagate": True}}}
    formatters = {
        "hilo": {"format": TEXT_FORMAT},
        "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s", "use_colors": None},
        "access": {"()": "uvicorn.logging.AccessFormatter",
                   "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'},
    }
    handlers = {
        "hilo": {"class": "logging.StreamHandler", "formatter": "hilo", "filters": ["redact"], "stream": "ext://sys.stderr"},
        "default": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["redact"],
                    "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "access", "filters": ["redact"],
                   "stream": "ext://sys.stdout"},
    }
    return {"version": 1, "disable_existing_loggers": False, "filters": filters, "formatters": formatters,
            "handlers": handlers, "root": {"handlers": ["hilo"], "level": level},
            "loggers": {"uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
                        "uvicorn.error": {"level": level},
                        "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False}}}


def configure(level: str = "info", fmt: str = "text") -> None:
    """Configure logging for a process that does not go through uvicorn (the CLI, ``hilo worker``).
    As :func:`logging.basicConfig`, it leaves a root logger that already has handlers alone (a
    command run inside another program, e.g. a test runner, keeps that program's logging)."""
    import logging.config

    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(config(level, fmt))


__all__ = ["FORMATS", "REQUEST_ID", "RUN_ID", "THREAD_ID", "JsonFormatter", "RedactSecrets", "config", "configure",
           "redact"]
