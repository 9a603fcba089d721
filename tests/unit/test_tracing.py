"""Operations read what a service did: JSON log lines with the trace id, HTTP request metrics
by route template and status, and spans exported only where the OTEL_* variables ask for it."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from servicekit import tracing


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
