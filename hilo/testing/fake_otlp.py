"""A real local OTLP/HTTP collector that records the spans sent to it (protobuf, as the
OpenTelemetry exporter sends them): point ``HILO_OTEL_ENDPOINT`` at :attr:`FakeCollector.url`.

    with FakeCollector() as collector:
        ...  # hilo processes export to collector.url
        spans = collector.spans()  # [{"name", "trace_id", "span_id", "parent_id", "service", "attributes"}]
"""

from __future__ import annotations

import gzip
import threading
from typing import Any

from hilo.testing.http import QuietHandler, QuietServer

__all__ = ["FakeCollector"]


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path == "/v1/traces":
            self.server.owner._record(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


class FakeCollector:
    def __init__(self) -> None:
        self._spans: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: QuietServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeCollector:
        self._httpd = QuietServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeCollector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), None)
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    found.append({"name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                  "parent_id": s.parent_span_id.hex() or None, "service": service,
                                  "attributes": {a.key: _value(a.value) for a in s.attributes}})
        with self._lock:
            self._spans.extend(found)

    def spans(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._spans)


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None
