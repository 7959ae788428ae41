"""Prometheus metrics: the objects, the hooks that count, and the exposition.

Every hook is a dictionary look-up of the labelled child and one increment or observation
(about a microsecond); none builds a payload, and nothing here makes the event bus build
one. Labels are bounded: the assistant is its pack's ``<pack>/<key>`` or ``custom``, the
provider its kind, a tool its registered name (``client`` for the caller's function tools),
and outcomes come from fixed sets. No id is ever a label.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts) every process writes its
values to files there and any of them exposes the sum (prometheus-client's multiprocess
mode): the workers of ``hilo serve --workers N`` (which sets a fresh directory itself when
the variable is unset) and separate worker processes on the same host. Unset, one process
exposes its own registry.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds. A turn on a local model takes seconds; on a fast endpoint tens of milliseconds.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_TOOL_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RUNS = Counter("hilo_runs_finished_total", "Runs that reached a final status", ["status", "assistant"])
TURNS = Histogram("hilo_turn_duration_seconds",
                  "A turn: from the run handed to the executor to its end or requires_action",
                  ["assistant"], buckets=_LATENCY)
TTFT = Histogram("hilo_time_to_first_token_seconds",
                 "From the run handed to the executor to the first text delta of the answer",
                 ["assistant"], buckets=_LATENCY)
MODEL_CALLS = Counter("hilo_model_calls_total", "Model calls (one per round of a run)", ["provider"])
MODEL_ERRORS = Counter("hilo_model_errors_total", "Model calls that failed", ["provider", "code"])
MODEL_LATENCY = Histogram("hilo_model_call_duration_seconds", "A model call, from request to its last event",
                          ["provider"], buckets=_LATENCY)
MODEL_TOKENS = Counter("hilo_model_tokens_total", "Tokens the model reported (or hilo estimated)",
                       ["provider", "kind"])
TOOL_CALLS = Counter("hilo_tool_calls_total", "Tool calls; tool=client for the caller's function tools", ["tool"])
TOOL_ERRORS = Counter("hilo_tool_errors_total", "Server-side tool calls that failed or timed out", ["tool", "kind"])
TOOL_LATENCY = Histogram("hilo_tool_call_duration_seconds", "A server-side tool call", ["tool"],
                         buckets=_TOOL_LATENCY)
QUEUE_DEPTH = Gauge("hilo_queue_depth", "Jobs waiting in a queue", ["queue"], multiprocess_mode="mostrecent")
QUEUE_AGE = Gauge("hilo_queue_oldest_age_seconds", "Age of the oldest job waiting in a queue", ["queue"],
                  multiprocess_mode="mostrecent")
WEBHOOKS = Counter("hilo_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"])
WEBSOCKETS = Gauge("hilo_websockets_open", "Open WebSocket connections", multiprocess_mode="livesum")
INGEST_FILES = Counter("hilo_ingestion_files_total", "Vector store files whose ingestion ended", ["outcome"])
INGEST_CHUNKS = Counter("hilo_ingestion_chunks_total", "Chunks embedded and written by ingestion")
INGEST_ACTIVE = Gauge("hilo_ingestion_files_in_progress", "Files being ingested now", multiprocess_mode="livesum")
COUNCIL = Counter("hilo_council_decisions_total", "Trading council decisions by outcome", ["outcome"])

# Bounded value sets: anything else is counted as "other".
RUN_STATUSES = frozenset({"completed", "incomplete", "failed", "cancelled", "expired"})
MODEL_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})
PROVIDER_KINDS = frozenset({"openai", "guided", "local", "scripted"})
WEBHOOK_OUTCOMES = frozenset({"delivered", "retry", "failed"})
COUNCIL_OUTCOMES = frozenset({"execute", "escalate", "hold"})


class _Children:
    """The labelled children of one metric, cached (``metric.labels()`` costs a few µs)."""

    __slots__ = ("metric", "cache")

    def __init__(self, metric: Any):
        self.metric = metric
        self.cache: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        child = self.cache.get(labels)
        if child is None:
            child = self.cache[labels] = self.metric.labels(*labels)
        return child


_runs, _turns, _ttft = _Children(RUNS), _Children(TURNS), _Children(TTFT)
_model_calls, _model_errors = _Children(MODEL_CALLS), _Children(MODEL_ERRORS)
_model_latency, _model_tokens = _Children(MODEL_LATENCY), _Children(MODEL_TOKENS)
_tool_calls, _tool_errors, _tool_latency = _Children(TOOL_CALLS), _Children(TOOL_ERRORS), _Children(TOOL_LATENCY)
_webhooks, _ingest_files, _council = _Children(WEBHOOKS), _Children(INGEST_FILES), _Children(COUNCIL)
_queue_depth, _queue_age = _Children(QUEUE_DEPTH), _Children(QUEUE_AGE)

# ---------------------------------------------------------------------- labels
_ASSISTANTS: dict[str, str] = {}  # assistant id -> "<pack>/<key>"


def name_assistants(ids: Mapping[str, str]) -> None:
    """The pack assistants of this process: ``{"<pack>/<key>": assistant id}`` (the loader's)."""
    _ASSISTANTS.update({assistant_id: key for key, assistant_id in ids.items()})


def assistant_label(assistant_id: str | None) -> str:
    return _ASSISTANTS.get(assistant_id or "", "custom")


def provider_label(provider: Any) -> str:
    """The provider's kind: ``openai`` for every OpenAI-compatible endpoint, whatever its name."""
    name = getattr(provider, "name", None)
    return name if name in PROVIDER_KINDS else "openai"


# ---------------------------------------------------------------------- hooks: runs
def run_finished(status: str, assistant: str) -> None:
    _runs(status if status in RUN_STATUSES else "other", assistant).inc()


def turn_ended(assistant: str, seconds: float) -> None:
    _turns(assistant).observe(seconds)


def first_token(assistant: str, seconds: float) -> None:
    _ttft(assistant).observe(seconds)


def model_call(provider: str, seconds: float, error_code: str | None = None) -> None:
    _model_calls(provider).inc()
    _model_latency(provider).observe(seconds)
    if error_code is not None:
        _model_errors(provider, error_code if error_code in MODEL_CODES else "other").inc()


def model_tokens(provider: str, prompt: int, completion: int) -> None:
    if prompt:
        _model_tokens(provider, "prompt").inc(prompt)
    if completion:
        _model_tokens(provider, "completion").inc(completion)


def tool_call(tool: str, seconds: float | None = None, error: str | None = None) -> None:
    """``tool``: a registered server tool's name, or ``client``; ``error``: timeout | error."""
    _tool_calls(tool).inc()
    if seconds is not None:
        _tool_latency(tool).observe(seconds)
    if error is not None:
        _tool_errors(tool, error).inc()


def client_tool_calls(count: int) -> None:
    _tool_calls("client").inc(count)


# ---------------------------------------------------------------------- hooks: the rest
def set_queue(queue: str, depth: int, oldest_age_s: float) -> None:
    """For the queue's code: jobs waiting in ``queue`` (a fixed name: runs, ingestion, ...)
    and the age of the oldest, in seconds (0 when empty)."""
    _queue_depth(queue).set(depth)
    _queue_age(queue).set(oldest_age_s)


def webhook_delivery(outcome: str) -> None:
    """One attempt: ``delivered``, ``retry`` (will be tried again) or ``failed`` (gave up)."""
    _webhooks(outcome if outcome in WEBHOOK_OUTCOMES else "other").inc()


def websocket_opened() -> None:
    WEBSOCKETS.inc()


def websocket_closed() -> None:
    WEBSOCKETS.dec()


def ingestion_started() -> None:
    INGEST_ACTIVE.inc()


def ingestion_ended(outcome: str | None) -> None:
    """``outcome``: completed | failed, or None when the file went back (retried later, lost)."""
    INGEST_ACTIVE.dec()
    if outcome is not None:
        _ingest_files(outcome).inc()


def chunks_written(count: int) -> None:
    INGEST_CHUNKS.inc(count)


def council_decision(outcome: str) -> None:
    _council(outcome if outcome in COUNCIL_OUTCOMES else "other").inc()


# ---------------------------------------------------------------------- exposition
def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def registry() -> CollectorRegistry:
    """What to expose: every process's values (multiprocess mode), or this process's."""
    if multiprocess_dir() is None:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def exposition() -> bytes:
    """The Prometheus text format of every hilo metric (and the process's own, single-process)."""
    return generate_latest(registry())


def authorized(header: str | None, token: str | None) -> bool:
    """``Authorization: Bearer <HILO_METRICS_TOKEN>`` when a token is set; anyone otherwise."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def process_exited(pid: int | None = None) -> None:
    """Multiprocess mode: drop this (or ``pid``'s) live gauges (WebSockets, ingestion)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid or os.getpid())


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


def start_metrics_server(port: int, host: str = "127.0.0.1", token: str | None = None) -> WSGIServer:
    """Serve ``GET /metrics`` from a thread, for a process without HTTP (``hilo worker``).

    ``token``: require ``Authorization: Bearer <token>`` (HILO_METRICS_TOKEN). Returns the
    server (``server.server_port``; ``server.shutdown()`` stops it).
    """
    app = make_wsgi_app(registry())

    def guarded(environ, start_response):
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"metrics need a bearer token\n"]
        return app(environ, start_response)

    server = make_server(host, port, guarded, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="hilo-metrics", daemon=True).start()
    return server


__all__ = [
    "CONTENT_TYPE", "assistant_label", "authorized", "chunks_written", "client_tool_calls", "council_decision",
    "exposition", "first_token", "ingestion_ended", "ingestion_started", "model_call", "model_tokens",
    "multiprocess_dir", "name_assistants", "process_exited", "provider_label", "registry", "run_finished",
    "set_queue", "start_metrics_server", "tool_call", "turn_ended", "webhook_delivery", "websocket_closed",
    "websocket_opened",
]
