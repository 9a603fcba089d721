"""What the web pages show, without a browser or a broker: the adviser's list of the office's
dossiers from the portal read model, and the client's action points as the page renders them,
with the fields of the document cycle (due date, rejection reason) wherever the model has them.
The pages copy no rule: their Dutch labels name every status of the services' vocabularies, and
the scenarios they offer for a subject are those of the scope the scenario service gives it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from fastapi import FastAPI
from fastapi.testclient import TestClient

from servicekit.auth import Identity
from services.dossiercontrole_service.domainmodel import ActionPointStatus, DocumentStatus
from services.portal_projection import web
from services.portal_projection.http import PortalActionPoint
from services.portal_projection.signins import Person, signins_in_file
from services.portal_projection.views import PortalView, progress
from services.portal_projection.web import Session, adviser_pages, templates
from services.portal_projection.web.labels import ACTION_POINT_LABELS, DOCUMENT_LABELS, RUN_LABELS
from services.scenario_service.domainmodel import APPOINTMENT_SCOPE, RunStatus, check_trigger
from shared.events import contracts as c
from shared.events.codec import new_event

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


@pytest.fixture
def view(tmp_path: Path) -> Iterator[PortalView]:
    portal = PortalView(tmp_path / "portal.sqlite")
    yield portal
    portal.close()


def open_point(view: PortalView, tenant: str, dossier_id: str, at: datetime) -> str:
    action_point_id = uuid4()
    event = new_event(
        c.ActionPointOpened,
        {
            "action_point_id": action_point_id,
            "document_id": uuid4(),
            "dossier_id": dossier_id,
            "subject": MORTGAGE,
            "document_type": "identiteitsbewijs",
            "title": "Identiteitsbewijs",
            "opened_at": at,
        },
        source="actiepunten/dossiercontrole_service",
        tenant=tenant,
        dossier=dossier_id,
    )
    position = (view.max_tracking_id("t:0") or 0) + 1
    assert view.process(event, Tracking("t:0", position))
    return str(action_point_id)


def test_an_adviser_lists_the_offices_dossiers_most_recent_first_within_a_limit(
    view: PortalView,
) -> None:
    for n in range(5):
        open_point(view, "kantoor-utrecht", f"dossier-{n}", NOW + timedelta(minutes=n))
    open_point(view, "kantoor-utrecht", "dossier-4", NOW + timedelta(minutes=9))
    open_point(view, "kantoor-amsterdam", "dossier-elders", NOW + timedelta(hours=1))

    listed = view.dossiers("kantoor-utrecht", limit=3)

    assert [d["dossier_id"] for d in listed] == ["dossier-4", "dossier-3", "dossier-2"]
    assert listed[0] == {"dossier_id": "dossier-4", "open": 2, "completed": 0, "percent": 0}
    assert [d["dossier_id"] for d in view.dossiers("kantoor-amsterdam")] == ["dossier-elders"]


def render_client_points(points: list[dict[str, Any]]) -> str:
    token = "token"
    session = Session(
        who=Identity(sub="klant-1", tenant="kantoor-utrecht", role="client"),
        token=token,
        csrf="c" * 40,
    )
    template = templates.env.get_template("_action_points.html")
    return template.render(
        session=session,
        dossier_id="dossier-1",
        points=points,
        progress=progress(points),
        version="v",
        accept="application/pdf,image/jpeg,image/png",
    )


def point(**fields: Any) -> dict[str, Any]:
    return {
        "action_point_id": str(uuid4()),
        "document_id": str(uuid4()),
        "document_type": "loonstrook",
        "title": "Loonstrook",
        "subject": MORTGAGE,
        "status": "open",
        "created_at": NOW.isoformat(),
        "completed_at": None,
        **fields,
    }


def test_the_client_page_shows_due_date_and_rejection_reason_when_the_model_has_them() -> None:
    page = render_client_points(
        [
            point(due_at="2026-12-01T22:59:00+00:00", overdue=True, reason="onleesbaar"),
            point(title="Werkgeversverklaring"),
        ]
    )

    assert "Uiterlijk 01-12-2026 23:59 (verlopen)" in page
    assert "Afgekeurd:</strong> onleesbaar" in page
    # A point without those fields (today's read model) just shows none.
    assert page.count("Uiterlijk") == 1


def test_each_open_point_offers_a_labelled_file_picker_and_camera_a_completed_one_stays() -> None:
    page = render_client_points(
        [point(), point(title="Paspoort", status="completed", completed_at=NOW.isoformat())]
    )

    assert 'accept="application/pdf,image/jpeg,image/png"' in page
    assert 'capture="environment"' in page
    assert 'aria-label="Bestand kiezen voor Loonstrook"' in page
    assert "Paspoort" in page
    assert "Afgerond op 28-11-2026 10:00" in page
    assert 'aria-valuenow="50"' in page


def test_the_client_page_says_why_an_expired_document_is_needed_again() -> None:
    expired = str(uuid4())
    page = render_client_points(
        [
            point(replaces_document_id=expired),
            point(title="Werkgeversverklaring"),
        ]
    )

    assert page.count("Opnieuw nodig: de vorige is verlopen.") == 1


def test_the_adviser_sees_until_when_a_delivery_is_valid_and_what_replaces_an_expired_one() -> None:
    def document(**fields: Any) -> dict[str, Any]:
        return {
            "document_id": str(uuid4()),
            "title": "Loonstrook",
            "document_type": "loonstrook",
            "subject": MORTGAGE,
            "status": "uploaded",
            "action_point": None,
            "actions": [],
            "file": None,
            "versions": 0,
            **fields,
        }

    expired = document(status="expired", valid_until="2026-03-01T09:00:00+00:00")
    documents = [
        expired,
        document(status="requested", replaces_document_id=expired["document_id"]),
        document(valid_until="2026-06-01T09:00:00+00:00"),
    ]
    page = templates.env.get_template("_documents.html").render(
        session=Session(
            who=Identity(sub="adviseur-1", tenant="kantoor-utrecht", role="adviser"),
            token="token",
            csrf="c" * 40,
        ),
        dossier_id="dossier-1",
        documents=documents,
        uploaded=[],
        version="v",
        accept="application/pdf",
    )

    assert "Vervallen op 01-03-2026 10:00" in page
    assert "Geldig tot 01-06-2026 11:00" in page
    assert page.count("Opnieuw opgevraagd: het vorige is vervallen.") == 1


def test_each_label_table_names_every_status_of_its_vocabulary() -> None:
    """A status the pages have no Dutch word for fails here, not on a user's screen."""
    portal = PortalActionPoint.model_fields
    # What the portal's read model and API give a client; a removed action point is shown to no
    # one (the portal drops it, the dossier check's documents API leaves it out).
    assert set(ACTION_POINT_LABELS) == set(get_args(portal["status"].annotation))
    assert set(ACTION_POINT_LABELS) == {
        status.value for status in ActionPointStatus if status is not ActionPointStatus.REMOVED
    }
    assert set(DOCUMENT_LABELS) == {status.value for status in DocumentStatus}
    assert set(DOCUMENT_LABELS) == set(get_args(portal["document_status"].annotation))
    assert set(RUN_LABELS) == {status.value for status in RunStatus}


def test_a_status_is_labelled_by_its_own_vocabulary_on_the_page() -> None:
    page = templates.env.from_string(
        "{{ 'open' | action_point_status }} / {{ 'uploaded' | document_status }} / "
        "{{ 'executed' | run_status }} / {{ 'unknown' | document_status }}"
    ).render()

    assert page == "Nog aan te leveren / Ontvangen / Uitgevoerd / unknown"


SECRET = "web-pages-unit-test-" + "x" * 32


def test_an_appointment_is_offered_the_scenarios_of_the_scope_the_scenario_service_gives_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[dict[str, str] | None] = []

    async def every_page(*args: Any, params: dict[str, str] | None = None) -> list[Any]:
        asked.append(params)
        return []

    monkeypatch.setattr(adviser_pages, "every_page", every_page)
    app = FastAPI()
    app.state.settings = SimpleNamespace(jwt_secret=SECRET)
    app.state.signins = signins_in_file(tmp_path / "signin.sqlite")
    web.install(app)
    code = app.state.signins.issue_code(Person("kantoor-utrecht", "adviser", "adviseur-1"))
    # On localhost: anywhere else the cookie is Secure, and this is plain HTTP.
    with TestClient(app, base_url="http://localhost", follow_redirects=False) as browser:
        assert browser.post("/app/signin/confirm", data={"code": code}).status_code == 303
        for subject_type in ("appointment", "product"):
            response = browser.get(
                "/app/dossiers/dossier-1/scenarios",
                params={"subject_type": subject_type, "subject_scope": "hypotheek"},
            )
            assert response.status_code == 200, response.text

    # The scope of an appointment is the one the scenario service starts appointments' runs in.
    assert asked == [{"scope": APPOINTMENT_SCOPE}, {"scope": "hypotheek"}]
    check_trigger(APPOINTMENT_SCOPE, {"event": "appointment_scheduled", "offset_days": -2})


def test_every_page_route_names_its_whole_address() -> None:
    # Spans and metrics name a request by the route it matched: a room's router nested in
    # another would name "/dossiers/..." for "/app/dossiers/...".
    from fastapi import FastAPI
    from fastapi.routing import APIRoute

    from services.portal_projection.web import install

    app = FastAPI()
    install(app)
    rooms = [route.original_router for route in app.routes if hasattr(route, "original_router")]
    routes = [route for room in rooms for route in room.routes]
    assert all(isinstance(route, APIRoute) for route in routes), "a router nested in a room"
    paths = [route.path for route in routes]
    assert "/app/dossiers/{dossier_id}/documents/{document_id}/upload" in paths
    assert all(path.startswith("/app/") for path in paths)
