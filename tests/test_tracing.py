"""OpenTelemetry: one turn through the real server gives the request, run, model, tool and SQL spans."""

from __future__ import annotations

import http.server
import threading
import time

import httpx
import pytest
from openai import OpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from hilo.kit.observe import tracing
from hilo.testing.server import start_server
from tests.conftest import BACKENDS, make_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = "00f067aa0ba902b7"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.enable(TracerProvider(), SimpleSpanProcessor(exporter))
    yield exporter
    tracing.disable()


def wait_for(exporter: InMemorySpanExporter, name: str, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = [s for s in exporter.get_finished_spans() if s.name == name]
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {name} span; got {[s.name for s in exporter.get_finished_spans()]}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_turn_is_one_trace(backend, spans, database_factory, tmp_path, script):
    model, queue = script
    with start_server(make_settings(database_factory(backend), tmp_path)) as live:
        asesor = live.app.state.pack_assistants["courses/asesor"]
        queue({"tool_calls": [{"name": "buscar_curso", "arguments": {"query": "excel"}}]}, {"text": "Hay cursos."})
        headers = {"traceparent": f"00-{TRACE_ID}-{CLIENT_PARENT}-01"}  # the caller's own trace
        with OpenAI(base_url=live.url + "/v1", api_key="k", max_retries=0) as sdk:
            thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "cursos de excel"}])
            spans.clear()
            with sdk.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asesor, model=model,
                                              extra_headers=headers) as stream:
                stream.until_done()
                run = stream.get_final_run()
        assert run.status == "completed"
        [run_span] = wait_for(spans, "run")
        [request] = wait_for(spans, "POST /v1/threads/{thread_id}/runs")
    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def parent(span):
        return by_id.get(span.parent.span_id) if span.parent is not None else None

    # the request continues the caller's trace; the run (another task) is the request's child
    assert request.kind == SpanKind.SERVER and f"{request.context.trace_id:032x}" == TRACE_ID
    assert f"{request.parent.span_id:016x}" == CLIENT_PARENT
    assert request.attributes["http.route"] == "/v1/threads/{thread_id}/runs"
    assert request.attributes["http.response.status_code"] == 200
    assert parent(run_span) is request and run_span.context.trace_id == request.context.trace_id
    assert run_span.attributes["hilo.run_id"] == run.id
    assert run_span.attributes["hilo.assistant"] == "courses/asesor"
    # two model calls (the tool call, then the answer) and the tool call, all inside the run
    calls = [s for s in finished if s.name == "model call"]
    assert len(calls) == 2 and all(parent(c) is run_span for c in calls)
    assert all(c.kind == SpanKind.CLIENT and c.attributes["hilo.provider"] == "scripted" for c in calls)
    [tool] = [s for s in finished if s.name == "tool buscar_curso"]
    assert parent(tool) is run_span
    assert tool.start_time >= calls[0].end_time and tool.end_time <= calls[1].start_time
    # database round trips: the request stores the run (hot SQL), the engine writes the answer
    # (hot SQL), the tool searches the catalogue (an AsyncSession)
    db = [s for s in finished if s.name.startswith("db ")]
    assert all(s.kind == SpanKind.CLIENT and s.context.trace_id == request.context.trace_id for s in db)
    system = "sqlite" if backend == "sqlite" else "postgresql"
    assert all(s.attributes["db.system"] == system for s in db)
    assert any(parent(s) is request for s in db), [(s.name, parent(s).name if parent(s) else None) for s in db]
    assert any(parent(s) is run_span for s in db)
    assert any(parent(s) is tool and "courses" in s.attributes["db.statement"] for s in db)
    # every one inside the turn (a write of the open message happens while the model streams)
    assert all(parent(s) in (request, run_span, tool, *calls) for s in db)


def test_a_run_executed_elsewhere_continues_the_request_trace(spans):
    """What a worker does with the traceparent a queued job carries."""
    with tracing.span("POST /v1/threads/{thread_id}/runs", "server") as request:
        carried = tracing.traceparent()
    assert carried and carried.startswith(f"00-{request.get_span_context().trace_id:032x}-")
    with tracing.continued(carried), tracing.span("worker work"):
        pass
    with tracing.run_span("run_x", "thread_x", "custom", carried):
        pass
    worker, run = spans.get_finished_spans()[-2:]
    for span in (worker, run):
        assert span.context.trace_id == request.get_span_context().trace_id
        assert span.parent.span_id == request.get_span_context().span_id


def test_tracing_is_off_without_an_endpoint(monkeypatch):
    for name in tracing.ENDPOINT_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.ON is False
    assert tracing.configure(None) is False and tracing.ON is False
    assert tracing.traceparent() is None
    with tracing.continued("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
        pass  # a no-op when off


class _Collector(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((self.path, self.headers.get("content-type", ""), body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_hilo_serve_exports_a_turn_over_otlp_http(database_factory, tmp_path):
    """HILO_OTEL_ENDPOINT: a real OTLP/HTTP request with the turn's spans reaches the collector."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.test_logs import ADMIN, serve

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    _Collector.received = []
    try:
        endpoint = f"http://127.0.0.1:{collector.server_port}"
        with serve(tmp_path, database_factory("sqlite"), HILO_OTEL_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100",
                   OTEL_SERVICE_NAME="hilo-test") as (url, _log):
            admin = {"authorization": f"Bearer {ADMIN}"}
            assistant = httpx.post(url + "/v1/assistants", headers=admin, json={"model": "scripted/otlp"}).json()
            with OpenAI(base_url=url + "/v1", api_key=ADMIN, max_retries=0) as sdk:
                run = sdk.beta.threads.create_and_run_poll(
                    assistant_id=assistant["id"], thread={"messages": [{"role": "user", "content": "hola"}]},
                    poll_interval_ms=20)
            assert run.status == "completed"
            names: set[str] = set()
            deadline = time.monotonic() + 15
            while "run" not in names and time.monotonic() < deadline:
                time.sleep(0.1)
                for path, kind, body in list(_Collector.received):
                    assert path == "/v1/traces" and kind == "application/x-protobuf"
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource in request.resource_spans:
                        service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                        assert service == "hilo-test"
                        names.update(s.name for scope in resource.scope_spans for s in scope.spans)
        assert {"run", "model call", "POST /v1/threads/runs"} <= names, names
        assert any(n.startswith("db ") for n in names), names
    finally:
        collector.shutdown()
        collector.server_close()
