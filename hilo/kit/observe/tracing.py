"""OpenTelemetry traces of a turn: the request, the run, each model call, tool call and SQL round trip.

Tracing is off unless an OTLP endpoint is configured (``HILO_OTEL_ENDPOINT``, or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); then spans go to it
over OTLP/HTTP in batches. Off, the turn path reads one module flag (:data:`ON`) and does
nothing else: no span objects, no context look-ups.

A run executes in another task than the request that created it (and, with a queue, in another
process): the request's context travels with the run as a W3C ``traceparent`` string
(:func:`traceparent` where the run is handed over, :func:`continued` or :func:`run_span`
where it executes), so the run span is the request span's child wherever it runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("hilo.tracing")

ON = False  # the flag the turn path reads
_tracer: Any = None
_provider: Any = None

ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def endpoint_configured(hilo_endpoint: str | None) -> bool:
    return bool(hilo_endpoint) or any(os.environ.get(name) for name in ENDPOINT_ENVS)


def configure(hilo_endpoint: str | None = None, service_name: str = "hilo") -> bool:
    """Turn tracing on when an endpoint is configured (idempotent). ``hilo_endpoint``: the
    collector's base URL (``http://collector:4318``), spans are sent to ``<it>/v1/traces``."""
    if ON or not endpoint_configured(hilo_endpoint):
        return ON
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = (OTLPSpanExporter(endpoint=hilo_endpoint.rstrip("/") + "/v1/traces") if hilo_endpoint
                else OTLPSpanExporter())  # the standard OTEL_EXPORTER_OTLP_* variables
    enable(_sdk_provider(service_name), BatchSpanProcessor(exporter))
    log.info("tracing on: OTLP/HTTP to %s", hilo_endpoint or "the OTEL_EXPORTER_OTLP_* endpoint")
    return True


def _sdk_provider(service_name: str) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    # OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) names it instead
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    return TracerProvider(resource=Resource.create({} if named else {"service.name": service_name}))


def enable(provider: Any = None, processor: Any = None, service_name: str = "hilo") -> Any:
    """Trace through ``provider`` (an SDK TracerProvider; a new one by default) with ``processor``
    added; tests pass an in-memory exporter's processor. Returns the provider."""
    global ON, _tracer, _provider
    from opentelemetry import trace

    provider = provider or _sdk_provider(service_name)
    if processor is not None:
        provider.add_span_processor(processor)
    _provider, _tracer, ON = provider, provider.get_tracer("hilo"), True
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # other instrumentation the operator adds shares it
    return provider


def disable() -> None:
    """Stop tracing (spans already ended stay with their processor); flushes the provider."""
    global ON, _tracer, _provider
    provider, _provider, _tracer, ON = _provider, None, None, False
    if provider is not None:
        provider.force_flush()


def flush() -> None:
    """Export the spans still buffered (a process stopping)."""
    if _provider is not None:
        _provider.force_flush()


def tracer() -> Any:
    return _tracer


@contextmanager
def span(name: str, kind: str = "internal", attributes: dict[str, Any] | None = None,
         context: Any = None) -> Iterator[Any]:
    """A span (only call it when :data:`ON`); an exception records on it and is re-raised."""
    from opentelemetry.trace import SpanKind

    with _tracer.start_as_current_span(name, context=context, kind=getattr(SpanKind, kind.upper()),
                                       attributes=attributes) as current:
        yield current


def traceparent() -> str | None:
    """The current span's context as a W3C ``traceparent`` (None when tracing is off)."""
    if not ON:
        return None
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def extract(traceparent_: str | None) -> Any:
    """The context a ``traceparent`` names (None: the current one)."""
    if not traceparent_:
        return None
    from opentelemetry.propagate import extract as _extract

    return _extract({"traceparent": traceparent_})


def extract_headers(headers: list[tuple[bytes, bytes]]) -> Any:
    """The context of an incoming request's ``traceparent``/``tracestate`` headers, if any."""
    carrier = {}
    for name, value in headers:
        if name in (b"traceparent", b"tracestate"):
            carrier[name.decode()] = value.decode("latin-1")
    if not carrier:
        return None
    from opentelemetry.propagate import extract as _extract

    return _extract(carrier)


@contextmanager
def continued(traceparent_: str | None) -> Iterator[None]:
    """Code in this block runs in the trace ``traceparent_`` names (a worker executing a run
    some request created): its spans are that request's descendants. A no-op when off."""
    if not ON or not traceparent_:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(extract(traceparent_))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def run_span(run_id: str, thread_id: str | None, assistant: str, traceparent_: str | None = None) -> Iterator[Any]:
    """The span of one run's execution, the child of the request that created (or resumed) it."""
    attributes = {"hilo.run_id": run_id, "hilo.assistant": assistant}
    if thread_id:
        attributes["hilo.thread_id"] = thread_id
    with span("run", "consumer", attributes, context=extract(traceparent_)) as current:
        yield current


# ---------------------------------------------------------------------- SQL round trips
def db_span(statement: str, system: str) -> Any:
    """A client span for one SQL round trip (the caller ends it); only when :data:`ON`. Outside
    any trace (the sweeper's polls) a non-recording span: no trace of its own for each poll."""
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        return trace.INVALID_SPAN  # a background sweep, not part of a request or run: no root span
    operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return _tracer.start_span(f"db {operation}", kind=trace.SpanKind.CLIENT,
                              attributes={"db.system": system, "db.statement": statement[:2000]})


def instrument_engine(engine: Any) -> None:
    """Spans for every statement an SQLAlchemy engine runs (sessions, Core); call it when
    :data:`ON`, once per engine. The turn path's own statements (:mod:`hilo.kit.db.hot`) are
    traced there."""
    from sqlalchemy import event

    sync = getattr(engine, "sync_engine", engine)
    system = "postgresql" if sync.dialect.name == "postgresql" else sync.dialect.name

    @event.listens_for(sync, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        if ON and context is not None:
            context._hilo_span = db_span(statement, system)

    def _end(context, exc=None):
        current = getattr(context, "_hilo_span", None)
        if current is not None:
            context._hilo_span = None
            if exc is not None:
                current.record_exception(exc)
                from opentelemetry.trace import Status, StatusCode

                current.set_status(Status(StatusCode.ERROR))
            current.end()

    @event.listens_for(sync, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        _end(context)

    @event.listens_for(sync, "handle_error")
    def _error(exception_context):
        if exception_context.execution_context is not None:
            _end(exception_context.execution_context, exception_context.original_exception)


__all__ = ["ON", "configure", "continued", "db_span", "disable", "enable", "endpoint_configured", "extract",
           "extract_headers", "flush", "instrument_engine", "run_span", "span", "traceparent", "tracer"]
