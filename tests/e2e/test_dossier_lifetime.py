"""Story of a dossier's lifetime (SPEC section 11, issue 22): the client withdraws, the adviser
closes the dossier, its open action points leave the portal, and a request that arrives for it
afterwards is dead-lettered with the reason; the client returns, the adviser reopens it, and the
tasks are back.

Through the running services on each store: HTTP for what the adviser and the client do and
see, the real broker in between.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.support import (
    Office,
    System,
    cloud_event,
    eventually,
    product,
    publish,
    read_dead_letters,
    read_events,
    start_runs,
    unique_events,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-levensloop"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def _portal(system: System, office: Office, expected: dict[str, str]) -> dict[str, str]:
    """The portal's action points by document type and status, once they are ``expected``."""

    def shows() -> dict[str, str]:
        points = system.portal_all(office, DOSSIER)
        shown = {p["document_type"]: p["status"] for p in points}
        assert shown == expected, shown
        return shown

    return eventually(shows, timeout=30)


def _closing_events(system: System, office: Office) -> list[dict[str, Any]]:
    def has_closed(events: list[dict[str, Any]]) -> bool:
        kinds = [e["type"] for e in unique_events(events)]
        return "DossierClosed" in kinds and kinds.count("ActionPointRemoved") >= 2

    events = read_events(
        system.bootstrap_servers, topics.DOSSIERCONTROLE, office.tenant, until=has_closed
    )
    return [
        e for e in unique_events(events) if e["type"] in ("DossierClosed", "ActionPointRemoved")
    ]


def test_a_withdrawn_client_s_dossier_is_closed_and_reopened(system: System, kafka: Broker) -> None:
    office = system.office()
    scenario_id = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "loonstrook", "bankafschrift"
    )
    assert start_runs(system, office, DOSSIER, product(), scenario_id).status_code == 201
    _portal(
        system, office, dict.fromkeys(("identiteitsbewijs", "loonstrook", "bankafschrift"), "open")
    )

    # The client delivers the ID, then withdraws; the adviser closes the dossier.
    document_id = next(
        d["document_id"]
        for d in system.documents(office, DOSSIER)
        if d["document_type"] == "identiteitsbewijs"
    )
    upload = system.post(
        "dossiercontrole",
        f"/documents/{document_id}/upload",
        office.client(DOSSIER),
        files={"file": ("id.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    closed = system.post(
        "dossiercontrole",
        f"/dossiers/{DOSSIER}/close",
        office.adviser,
        json={"outcome": "withdrawn"},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "withdrawn"

    # The two open tasks leave the portal; the delivered one stays as it was.
    _portal(system, office, {"identiteitsbewijs": "completed"})
    events = _closing_events(system, office)
    [closing] = [e for e in events if e["type"] == "DossierClosed"]
    assert closing["data"]["outcome"] == "withdrawn" and closing["dossierid"] == DOSSIER
    reasons = {e["data"]["reason"] for e in events if e["type"] == "ActionPointRemoved"}
    assert reasons == {"dossier_closed"}

    # Bad input: closing twice, an unknown outcome, reopening an open dossier; the wrong role.
    twice = system.post(
        "dossiercontrole",
        f"/dossiers/{DOSSIER}/close",
        office.adviser,
        json={"outcome": "completed"},
    )
    assert twice.status_code == 409 and "is closed (withdrawn)" in twice.json()["detail"]
    for who in (office.admin, office.client(DOSSIER)):
        refused = system.post("dossiercontrole", f"/dossiers/{DOSSIER}/reopen", who)
        assert refused.status_code == 403, refused.text
    other = system.office()
    assert (
        system.post("dossiercontrole", f"/dossiers/{DOSSIER}/reopen", other.adviser).status_code
        == 404
    )

    # A request for the closed dossier is dead-lettered with the reason; the consumer carries on.
    origin = _request_on_the_topic(kafka, office)
    letters = read_dead_letters(
        kafka.bootstrap_servers, topics.DOSSIERCONTROLE_DLQ, [origin], expected=[origin], timeout=30
    )
    assert f"dossier {DOSSIER} is closed (withdrawn)" in letters[origin]["reason"]

    # The client comes back: the adviser reopens it, and both tasks are open again.
    reopened = system.post("dossiercontrole", f"/dossiers/{DOSSIER}/reopen", office.adviser)
    assert reopened.status_code == 200, reopened.text
    assert reopened.json() == {
        "dossier_id": DOSSIER,
        "status": "open",
        "outcome": None,
        "closed_at": None,
    }
    _portal(
        system,
        office,
        {"identiteitsbewijs": "completed", "loonstrook": "open", "bankafschrift": "open"},
    )
    again = system.post("dossiercontrole", f"/dossiers/{DOSSIER}/reopen", office.adviser)
    assert again.status_code == 409 and "is not closed" in again.json()["detail"]


def test_closing_refuses_what_it_cannot_take(system: System) -> None:
    office = system.office()
    unknown = system.post(
        "dossiercontrole", f"/dossiers/{DOSSIER}/close", office.adviser, json={"outcome": "lost"}
    )
    assert unknown.status_code == 422
    assert "completed" in str(unknown.json()["detail"])
    nothing = system.post(
        "dossiercontrole",
        "/dossiers/never-asked/close",
        office.adviser,
        json={"outcome": "declined"},
    )
    assert nothing.status_code == 404 and "never-asked" in nothing.json()["detail"]


def _request_on_the_topic(kafka: Broker, office: Office) -> tuple[str, int, int]:
    data = {
        "request_id": str(uuid.uuid4()),
        "dossier_id": DOSSIER,
        "subject": product(),
        "document_type": "werkgeversverklaring",
        "source": "manual",
        "requested_by": "adviser:a1",
    }
    event = cloud_event("DocumentRequested", office.tenant, DOSSIER, data)
    event["dataversion"] = 2
    key = f"{office.tenant}:{DOSSIER}"
    return (topics.SCENARIO, *publish(kafka.bootstrap_servers, topics.SCENARIO, event, key))
