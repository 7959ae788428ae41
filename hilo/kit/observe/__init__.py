"""Observability shared by every layer: Prometheus metrics, OpenTelemetry traces, logs.

* :mod:`hilo.kit.observe.metrics`: the metric objects, the small functions the engine,
  channels, webhooks, ingestion and packs call (each a dictionary look-up and an increment),
  and the exposition (``GET /metrics``, :func:`~hilo.kit.observe.metrics.start_metrics_server`);
* :mod:`hilo.kit.observe.tracing`: spans, only when an OTLP endpoint is configured
  (:data:`~hilo.kit.observe.tracing.ON` is the one flag the turn path reads otherwise);
* :mod:`hilo.kit.observe.logs`: request, thread and run ids as context variables, the JSON
  formatter (``HILO_LOG_FORMAT=json``) and the redaction of secrets;
* :mod:`hilo.kit.observe.asgi`: the request middleware (request id, request span).
"""
