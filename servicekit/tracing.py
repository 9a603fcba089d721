"""OpenTelemetry tracing: one trace from an adviser's request through every service and topic.

Configured from the standard ``OTEL_*`` variables. A tracer provider is always installed (so
that trace ids exist for propagation and for the logs), but nothing is exported unless
``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``; ``none`` turns it off) or
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set. The OTLP
exporter (HTTP/protobuf) reads its own ``OTEL_EXPORTER_OTLP_*`` settings.

``ACTIEPUNTEN_TRACE_FILE`` (for tests) writes every finished span as a JSON line to that file.

What travels: the W3C ``traceparent`` of the current span. It is stored with each domain event
(``eventstore.TracingMapper``), put on each integration event the outbox publishes (the
CloudEvents ``traceparent`` extension attribute and a Kafka header), and continued by every
consumer (``consumer_span``), so that what a handler stores carries the trace on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit import metrics

TRACEPARENT = "traceparent"
_propagator = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("actiepunten")
_configured: TracerProvider | None = None


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line to a file (for tests: the services run as
    separate processes, so the test reads their spans from there)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            ctx = span.get_span_context()
            assert ctx is not None
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "kind": span.kind.name,
                        "service": span.resource.attributes.get("service.name"),
                        "trace_id": f"{ctx.trace_id:032x}",
                        "span_id": f"{ctx.span_id:016x}",
                        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "attributes": dict(span.attributes or {}),
                    },
                    default=str,
                )
            )
        with self._lock, open(self.path, "a", encoding="utf-8") as file:
            file.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


def span_exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters the standard variables ask for: none unless ``OTEL_TRACES_EXPORTER`` names
    one (``otlp``, ``console``) or an OTLP endpoint is set; ``OTEL_TRACES_EXPORTER=none`` wins."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if not names and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = ["otlp"]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())  # reads OTEL_EXPORTER_OTLP_* itself
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r}")
    return [] if "none" in names else exporters


def configure(service: str, env: Mapping[str, str] | None = None) -> TracerProvider:
    """Install the tracer provider of this process once (later calls return it). The sampler
    follows ``OTEL_TRACES_SAMPLER`` (default: parent-based, always on)."""
    global _configured
    if _configured is not None:
        return _configured
    env = os.environ if env is None else env
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    for exporter in span_exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if env.get("ACTIEPUNTEN_TRACE_FILE"):
        provider.add_span_processor(
            SimpleSpanProcessor(JsonLinesSpanExporter(env["ACTIEPUNTEN_TRACE_FILE"]))
        )
    trace.set_tracer_provider(provider)
    _configured = provider
    return provider


def shutdown() -> None:
    """Export what is pending (on the way out)."""
    if _configured is not None:
        _configured.shutdown()


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None outside any trace."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get(TRACEPARENT)


def outgoing_headers() -> dict[str, str]:
    """The trace context for an HTTP call to another service (empty outside any trace)."""
    traceparent = current_traceparent()
    return {TRACEPARENT: traceparent} if traceparent else {}


def traceparent_of(headers: Any) -> str | None:
    """The ``traceparent`` among Kafka record headers (a sequence of (key, bytes))."""
    for key, value in headers or ():
        if key == TRACEPARENT and value:
            return bytes(value).decode("ascii", "replace")
    return None


@contextmanager
def continued(
    name: str,
    traceparent: str | None,
    *,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: dict[str, str] | None = None,
) -> Iterator[None]:
    """A span, child of ``traceparent`` (a new trace without one), current inside the block
    (``asyncio.to_thread`` copies it into the thread that runs the work)."""
    parent = _propagator.extract({TRACEPARENT: traceparent}) if traceparent else None
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes):
        yield


def consumer_span(topic: str, event_type: str, traceparent: str | None) -> Any:
    """The span a consumer handles one record in, child of the record's ``traceparent``."""
    return continued(
        f"process {topic}",
        traceparent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation.type": "process",
            "cloudevents.event_type": event_type,
        },
    )


@contextmanager
def consumer_spans(
    topic: str, records: Sequence[tuple[str, str | None]]
) -> Iterator[list[str | None]]:
    """One consumer span per record of a batch applied in one transaction: each a child of its
    own record's ``traceparent`` (event type, traceparent), covering the transaction and ending
    with it. Yields each span's own ``traceparent``. None of them is current: the batch handler
    gives each event's effects the trace of its own span (``eventstore.stamp_trace``)."""
    spans = [
        _tracer.start_span(
            f"process {topic}",
            context=_propagator.extract({TRACEPARENT: traceparent}) if traceparent else None,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(records),
                "cloudevents.event_type": event_type,
            },
        )
        for event_type, traceparent in records
    ]
    carriers: list[dict[str, str]] = [{} for _ in spans]
    for span, carrier in zip(spans, carriers, strict=True):
        _propagator.inject(carrier, context=trace.set_span_in_context(span))
    try:
        yield [carrier.get(TRACEPARENT) for carrier in carriers]
    except BaseException as error:
        for span in spans:
            span.record_exception(error)
            span.set_status(trace.StatusCode.ERROR, str(error))
        raise
    finally:
        for span in spans:
            span.end()


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, and the ``trace_id``
    and ``span_id`` of the span current where it was logged (absent outside any trace)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            line["trace_id"] = f"{ctx.trace_id:032x}"
            line["span_id"] = f"{ctx.span_id:016x}"
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def log_as_json_lines(service: str, level: int = logging.INFO) -> None:
    """Make the root logger write JSON lines to stderr (what ``serve`` does)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class TracingMiddleware:
    """ASGI middleware: a server span per HTTP request (continuing the caller's
    ``traceparent``), and the request count and latency by route template and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with _tracer.start_as_current_span(
            method,
            context=_propagator.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR))
                labels = (method, route, str(status))
                metrics.HTTP_REQUESTS.labels(*labels).inc()
                metrics.HTTP_REQUEST_SECONDS.labels(*labels).observe(time.perf_counter() - started)
