"""Story: operations follow one adviser's click through three services and two topics.

The adviser's browser (or the gateway in front of it) sends a W3C ``traceparent``; the scenario
service continues it, stores it with the run's events, and publishes it with ScenarioExecuted;
the dossier check continues it while it opens the action points and sends it on with them; the
portal continues it while it writes the client's rows. One trace id, parent by parent.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.e2e.test_web_pages import PNG, csrf_of, requested_documents, signed_in
from tests.support import System, eventually, product, read_events

pytestmark = pytest.mark.e2e


def test_one_trace_from_the_advisers_click_to_the_client_portal(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    scenario_id = system.define_scenario(office, "hypotheek", "identiteitsbewijs")
    trace_id = secrets.token_hex(16)
    click = secrets.token_hex(8)  # the span of the adviser's click, in the caller's process

    # The adviser starts the scenario now; the request carries the caller's trace context.
    response = system.post(
        "scenario",
        "/scenario-runs",
        {**office.adviser, "traceparent": f"00-{trace_id}-{click}-01"},
        json={"dossier_id": "dossier-1", "subject": product(), "scenario_ids": [scenario_id]},
    )
    assert response.status_code == 201, response.text

    # The client sees the action point on the portal.
    eventually(
        lambda: _assert_one_open_action_point(system.portal(office, "dossier-1")), timeout=30
    )

    def whole_trace() -> dict[str, list[dict[str, Any]]]:
        spans = [s for s in system.spans() if s["trace_id"] == trace_id]
        by_service: dict[str, list[dict[str, Any]]] = {}
        for span in spans:
            by_service.setdefault(span["service"], []).append(span)
        # The notification service reads the same events as the portal, in the same trace (when
        # it has got there: on a long shared history it may still be reading older records).
        assert by_service.keys() - {"notification"} == {"scenario", "dossiercontrole", "portal"}, (
            by_service
        )
        return by_service

    spans = eventually(whole_trace, timeout=30)

    # The scenario service's server span continues the click.
    [request] = [s for s in spans["scenario"] if s["kind"] == "SERVER"]
    assert request["name"] == "POST /scenario-runs"
    assert request["parent_span_id"] == click
    assert request["attributes"]["http.response.status_code"] == 201

    # The dossier check processed the run's DocumentRequested as a child of that request.
    check = [
        s
        for s in spans["dossiercontrole"]
        if s["kind"] == "CONSUMER"
        and s["attributes"]["cloudevents.event_type"] == "DocumentRequested"
    ]
    assert [s["parent_span_id"] for s in check] == [request["span_id"]]
    assert check[0]["name"] == f"process {topics.SCENARIO}"

    # The portal wrote the client's row as a child of the dossier check's processing.
    portal = [s for s in spans["portal"] if s["kind"] == "CONSUMER"]
    assert portal, spans["portal"]
    assert {s["parent_span_id"] for s in portal} == {check[0]["span_id"]}
    assert {s["name"] for s in portal} == {f"process {topics.DOSSIERCONTROLE}"}
    assert "ActionPointOpened" in {s["attributes"]["cloudevents.event_type"] for s in portal}
    notified = [s for s in spans.get("notification", []) if s["kind"] == "CONSUMER"]
    assert {s["parent_span_id"] for s in notified} <= {check[0]["span_id"]}

    # On both topics the trace travels in the envelope (CloudEvents distributed tracing) and
    # in the Kafka header.
    for kind in ("ScenarioExecuted", "DocumentRequested"):
        [event] = _events(kafka, topics.SCENARIO, office.tenant, kind)
        assert event["traceparent"] == f"00-{trace_id}-{request['span_id']}-01"
        assert event["_headers"]["traceparent"] == event["traceparent"]
    [opened] = _events(kafka, topics.DOSSIERCONTROLE, office.tenant, "ActionPointOpened")
    assert opened["traceparent"] == f"00-{trace_id}-{check[0]['span_id']}-01"
    assert opened["_headers"]["traceparent"] == opened["traceparent"]


def _events(kafka: Broker, topic: str, tenant: str, kind: str) -> list[dict[str, Any]]:
    def of_kind(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == kind]

    found = read_events(
        kafka.bootstrap_servers, topic, tenant, until=lambda events: bool(of_kind(events))
    )
    return of_kind(found)


def _assert_one_open_action_point(portal: dict[str, Any]) -> None:
    assert [p["status"] for p in portal["action_points"]] == ["open"], portal


def test_a_run_prepared_for_later_executes_in_the_trace_of_the_advisers_click(
    system: System,
) -> None:
    office = system.office()
    scenario_id = system.define_scenario(office, "hypotheek", "jaarcijfers")
    trace_id = secrets.token_hex(16)
    moment = datetime.now(UTC) + timedelta(seconds=2)

    # The adviser prepares the scenario for a moment shortly from now.
    response = system.post(
        "scenario",
        "/scenario-runs",
        {**office.adviser, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "scenario_ids": [scenario_id],
            "execute_at": moment.isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["runs"][0]["status"] == "scheduled"

    # When it falls due, the scheduler executes it in that trace, and the dossier check and
    # the portal continue it.
    def reaches_the_portal() -> list[dict[str, Any]]:
        spans = [s for s in system.spans() if s["trace_id"] == trace_id]
        # (a span is written when it ends: the request's may end after the next hop's)
        names = {(s["service"], s["name"]) for s in spans}
        assert ("scenario", "execute scheduled run") in names, spans
        assert any(s["service"] == "portal" for s in spans), spans
        return spans

    spans = eventually(reaches_the_portal, timeout=30)
    [request] = [s for s in spans if s["kind"] == "SERVER"]
    [execution] = [s for s in spans if s["name"] == "execute scheduled run"]
    assert execution["service"] == "scenario"
    assert execution["parent_span_id"] == request["span_id"]
    [check] = [
        s
        for s in spans
        if s["service"] == "dossiercontrole"
        and s["attributes"].get("cloudevents.event_type") == "DocumentRequested"
    ]
    assert check["parent_span_id"] == execution["span_id"]


def test_an_upload_on_the_web_page_is_one_trace_through_the_dossier_check_and_back(
    system: System,
) -> None:
    office = system.office()
    [point] = requested_documents(system, office, "dossier-traced", 1)
    trace_id = secrets.token_hex(16)
    with signed_in(system, office.token("adviser")) as adviser:
        csrf = csrf_of(adviser.get("/app/dossiers/dossier-traced").text)
        # The adviser's browser (or the gateway) sends its trace context with the click.
        uploaded = adviser.post(
            f"/app/dossiers/dossier-traced/documents/{point['document_id']}/upload",
            files={"file": ("paspoort.png", PNG, "image/png")},
            data={"csrf_token": csrf},
            headers={"HX-Request": "true", "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        )
    assert uploaded.status_code == 200, uploaded.text

    # The page's call to the dossier check's API continues the click; the DocumentUploaded
    # it stored comes back to the portal's rows in the same trace.
    def back_on_the_portal() -> list[dict[str, Any]]:
        spans = [s for s in system.spans() if s["trace_id"] == trace_id]
        # (a span is written when it ends: the page's ends after the portal processed the event)
        kinds = {(s["service"], s["kind"]) for s in spans}
        assert kinds >= {
            ("portal", "SERVER"),
            ("dossiercontrole", "SERVER"),
            ("portal", "CONSUMER"),
        }, spans
        return spans

    spans = eventually(back_on_the_portal, timeout=30)
    [page] = [s for s in spans if s["kind"] == "SERVER" and s["service"] == "portal"]
    assert page["name"] == "POST /app/dossiers/{dossier_id}/documents/{document_id}/upload"
    calls = [s for s in spans if s["kind"] == "SERVER" and s["service"] == "dossiercontrole"]
    assert {s["parent_span_id"] for s in calls} == {page["span_id"]}
    [api] = [s for s in calls if s["name"] == "POST /documents/{document_id}/upload"]
    projected = [s for s in spans if s["kind"] == "CONSUMER" and s["service"] == "portal"]
    assert {s["parent_span_id"] for s in projected} == {api["span_id"]}
