"""Operations read what a service did: JSON log lines with the trace id, HTTP request metrics
by route template and status, and spans exported only where the OTEL_* variables ask for it."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import Tracking
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from servicekit import tracing
from servicekit.eventstore import traceparent_of
from servicekit.outbox import OutboxRelay
from services.dossiercontrole_service import kafka as dk
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
)
from shared.events import contracts as c
from shared.events.codec import new_event


def test_nothing_is_exported_unless_the_standard_variables_ask_for_it() -> None:
    assert tracing.span_exporters({}) == []
    assert tracing.span_exporters({"OTEL_SERVICE_NAME": "scenario"}) == []
    [otlp] = tracing.span_exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert isinstance(otlp, OTLPSpanExporter)
    [otlp] = tracing.span_exporters({"OTEL_TRACES_EXPORTER": "otlp"})
    assert isinstance(otlp, OTLPSpanExporter)
    # An operator who turns tracing off keeps it off, endpoint or not.
    assert (
        tracing.span_exporters(
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
        )
        == []
    )


def test_a_log_line_is_json_with_the_trace_id_of_the_work_in_hand() -> None:
    formatter = tracing.JsonLogFormatter("dossiercontrole")
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("process actiepunten.scenario.v1") as span:
        record = logging.LogRecord(
            "servicekit.consumer", logging.WARNING, __file__, 1, "retrying %s", ("x",), None
        )
        line = json.loads(formatter.format(record))
    ctx = span.get_span_context()
    assert line["trace_id"] == f"{ctx.trace_id:032x}"
    assert line["span_id"] == f"{ctx.span_id:016x}"
    assert line["message"] == "retrying x"
    assert line["level"] == "WARNING"
    assert line["service"] == "dossiercontrole"
    assert line["logger"] == "servicekit.consumer"
    # Outside any trace there is no trace id to give.
    assert "trace_id" not in json.loads(formatter.format(record))


def _count(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("actiepunten_http_requests_total", labels) or 0.0


def test_http_requests_are_counted_and_timed_by_route_template_and_status() -> None:
    app = FastAPI()
    app.add_middleware(tracing.TracingMiddleware)

    @app.get("/unit-test/dossiers/{dossier_id}")
    async def dossier(dossier_id: str) -> dict[str, str]:
        return {"dossier_id": dossier_id, "traceparent": tracing.current_traceparent() or ""}

    route = "/unit-test/dossiers/{dossier_id}"
    before = _count(route, "200")
    client = TestClient(app)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    first = client.get("/unit-test/dossiers/d1", headers={"traceparent": traceparent})
    client.get("/unit-test/dossiers/d2")
    assert _count(route, "200") == before + 2
    # One series for the template, not one per dossier; unknown paths share one series.
    client.get("/unit-test/nowhere/1")
    client.get("/unit-test/nowhere/2")
    assert _count("unmatched", "404") >= 2
    histogram = REGISTRY.get_sample_value(
        "actiepunten_http_request_duration_seconds_count",
        {"method": "GET", "route": route, "status": "200"},
    )
    assert histogram is not None and histogram >= 2
    # The endpoint runs in the request's server span, which continues the caller's trace
    # (with a provider configured; the services configure theirs at start).
    tracing.configure("unit-test", {})
    second = client.get("/unit-test/dossiers/d3", headers={"traceparent": traceparent})
    assert first.status_code == second.status_code == 200
    assert second.json()["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert not second.json()["traceparent"].endswith("00f067aa0ba902b7-01")


async def test_the_trace_of_a_command_is_stored_with_its_events_and_published_with_them(
    tmp_path: Path,
) -> None:
    # In one process, with the SDK's in-memory exporter: the request's span, the stored domain
    # events, the published integration events, and the next service's consumer span.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    checks = DossierChecks(env=store)
    published: list[c.CloudEvent] = []

    async def publish(topic: str, events: Sequence[c.CloudEvent]) -> None:
        published.extend(events)

    try:
        # A command runs in a request's span and stores its events.
        with tracer.start_as_current_span("POST /dossier-requests") as request:
            checks.add_requested_document(
                AddRequestedDocument(
                    "kantoor-utrecht",
                    "dossier-1",
                    uuid4(),
                    {"type": "product", "id": "hyp-1", "scope": "hypotheek"},
                    "identiteitsbewijs",
                    None,
                    None,
                    datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
                )
            )
        ctx = request.get_span_context()
        traceparent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"

        # The relay, outside any span and later, publishes them with the stored trace.
        relay = OutboxRelay(checks, dk.PUBLISHES, dk.OUTBOX.translator(checks), publish)
        await relay.relay_once()
        assert [e.type for e in published] == ["DocumentAdded", "ActionPointOpened"]
        assert {e.traceparent for e in published} == {traceparent}
        # It is part of the stored event: read again from the store, it is still there.
        [first, *_] = checks.recorder.select_notifications(0, 10)
        assert traceparent_of(checks.mapper.to_domain_event(first)) == traceparent
    finally:
        checks.close()

    # The next service handles the record in a consumer span continuing that trace, so what
    # its handler stores carries the trace on.
    with tracing.consumer_span(dk.PUBLISHES, "ActionPointOpened", published[1].traceparent):
        handled_in = tracing.current_traceparent()
    assert handled_in is not None and handled_in.startswith(f"00-{ctx.trace_id:032x}-")
    assert [s.name for s in exporter.get_finished_spans()] == ["POST /dossier-requests"]


async def test_requests_consumed_in_one_batch_each_keep_the_trace_of_their_own_cause(
    tmp_path: Path,
) -> None:
    # Two advisers' requests reach the dossier check in one consumed batch, saved in one
    # transaction: each document's events go on in the trace of the request that asked for it.
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s")}
    checks = DossierChecks(env=store)
    published: list[c.CloudEvent] = []

    async def publish(topic: str, events: Sequence[c.CloudEvent]) -> None:
        published.extend(events)

    traces = {
        "identiteitsbewijs": "00-" + "1" * 32 + "-" + "a" * 16 + "-01",
        "loonstrook": "00-" + "2" * 32 + "-" + "b" * 16 + "-01",
    }
    requests = [
        new_event(
            c.DocumentRequested,
            {
                "request_id": uuid4(),
                "dossier_id": "dossier-1",
                "subject": {"type": "product", "id": "hyp-1", "scope": "hypotheek"},
                "document_type": document_type,
                "source": "manual",
                "requested_by": "adviseur-1",
            },
            source="actiepunten/scenario",
            tenant="kantoor-utrecht",
            dossier="dossier-1",
        ).model_copy(update={"traceparent": traceparent})
        for document_type, traceparent in traces.items()
    ]
    try:
        dk.batch_handler(checks)(requests, Tracking("actiepunten.scenario.v1:0", 2))
        await OutboxRelay(checks, dk.PUBLISHES, dk.OUTBOX.translator(checks), publish).relay_once()
    finally:
        checks.close()
    added = [e for e in published if e.type == "DocumentAdded"]
    assert {e.data.document_type: e.traceparent for e in added} == traces
