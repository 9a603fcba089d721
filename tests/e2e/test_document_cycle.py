"""Stories of the whole document cycle (SPEC section 6): the adviser reviews what the client
delivered, requests carry due dates, open action points become overdue and remind the client,
and delivered documents expire at the end of their validity window.

Time-based rules run with windows of seconds (ISO 8601 durations such as ``PT2S``), never
sleeps of minutes. Each story runs in its own office against the three services as processes on
a real broker, on both stores.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from actiepunten.cli import seed_document_types
from devtools import Broker
from tests.e2e.test_dossier_check import (
    dossier_check_when,
    pdf,
    portal_points,
    published,
    request_document,
    upload,
)
from tests.support import (
    Office,
    System,
    eventually,
    open_sealed,
    product,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

# Issue 10 lands in parts; each part removes its marker when its stories pass.

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# How long another service may take to show an effect (a busy shared broker and CI machine).
SETTLE = 30.0


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


# --- what the adviser, the admin and the client do ------------------------------------------------


def review(
    system: System, headers: dict[str, str], document_id: str, decision: str, **body: Any
) -> Any:
    return system.post(
        "dossiercontrole",
        f"/documents/{document_id}/review",
        headers,
        json={"decision": decision, **body},
    )


def deliver(system: System, office: Office, dossier_id: str, document_id: str) -> dict[str, Any]:
    """The client uploads a PDF for the document; returns the document as answered."""
    response = upload(
        system,
        office.client(dossier_id),
        document_id,
        pdf(uuid.uuid4().hex),
        content_type="application/pdf",
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def document(system: System, office: Office, dossier_id: str, document_id: str) -> dict[str, Any]:
    [found] = [d for d in system.documents(office, dossier_id) if d["document_id"] == document_id]
    return found


def configure_type(system: System, office: Office, code: str, **settings: Any) -> Any:
    body = {"name": code.capitalize(), "creates_action_point": True, **settings}
    return system.put("dossiercontrole", f"/document-types/{code}", office.admin, json=body)


def moment(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def of_point(events: list[dict[str, Any]], kind: str, action_point_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in events
        if e["type"] == kind and e["data"].get("action_point_id") == action_point_id
    ]


# --- review ---------------------------------------------------------------------------------------


def test_a_rejected_document_reopens_the_clients_action_point_with_the_reason(
    system: System, kafka: Broker
) -> None:
    office, dossier = system.office(), "dossier-1"
    request_document(system, office, dossier, "identiteitsbewijs", title="Identiteitsbewijs")
    requested = dossier_check_when(system, office, dossier, 1)["identiteitsbewijs"]
    document_id = requested["document_id"]
    point_id = requested["action_point"]["action_point_id"]
    assert requested["status"] == "requested"
    assert requested["rejection_reason"] is None

    # Nothing was delivered yet: there is nothing to review.
    assert review(system, office.adviser, document_id, "approve").status_code == 409

    # The client delivers; the action point completes and the progress rises.
    assert deliver(system, office, dossier, document_id)["status"] == "uploaded"
    eventually(
        lambda: _assert(
            portal_points(system, office, dossier)[document_id]["status"] == "completed"
        ),
        timeout=SETTLE,
    )
    assert system.portal(office, dossier)["progress"]["completed"] == 1

    # Only an adviser of the office reviews, and a rejection needs its reason.
    assert review(system, office.client(dossier), document_id, "approve").status_code == 403
    other = system.office()
    assert review(system, other.adviser, document_id, "approve").status_code == 404
    assert review(system, office.adviser, document_id, "reject").status_code == 422
    assert review(system, office.adviser, document_id, "reject", reason="  ").status_code == 422
    assert review(system, office.adviser, document_id, "maybe").status_code == 422

    # The adviser rejects it: the document is rejected with the reason ...
    reason = "De achterkant van uw ID-kaart ontbreekt"
    response = review(system, office.adviser, document_id, "reject", reason=reason)
    assert response.status_code == 200, response.text
    rejected = response.json()
    assert (rejected["status"], rejected["rejection_reason"]) == ("rejected", reason)
    assert rejected["action_point"]["status"] == "open"

    # ... the client sees the action point open again with the reason, and the progress drops.
    def reopened() -> None:
        point = portal_points(system, office, dossier)[document_id]
        assert (point["status"], point["reason"], point["completed_at"]) == ("open", reason, None)

    eventually(reopened, timeout=SETTLE)
    assert system.portal(office, dossier)["progress"] == {"open": 1, "completed": 0, "percent": 0}

    # A rejected document cannot be approved; the client delivers it again.
    assert review(system, office.adviser, document_id, "approve").status_code == 409
    again = deliver(system, office, dossier, document_id)
    assert (again["status"], again["versions"]) == ("uploaded", 2)  # the rejected file is kept
    assert again["action_point"]["status"] == "completed"

    def completed_again() -> None:
        point = portal_points(system, office, dossier)[document_id]
        assert (point["status"], point["reason"]) == ("completed", None)

    eventually(completed_again, timeout=SETTLE)

    # The adviser approves the second version; it stays approved.
    approved = review(system, office.adviser, document_id, "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["action_point"]["status"] == "completed"
    assert review(system, office.adviser, document_id, "reject", reason="x").status_code == 409
    assert document(system, office, dossier, document_id)["status"] == "approved"

    # Other platform services saw each step once, in order.
    def cycle_published(events: list[dict[str, Any]]) -> bool:
        return any(e["type"] == "DocumentApproved" for e in events)

    events = published(kafka, office, cycle_published)
    mine = [
        e["type"]
        for e in events
        if e["data"].get("document_id") == document_id
        and e["type"] not in ("DocumentAdded", "ActionPointOpened")
    ]
    assert mine == [
        "DocumentUploaded",
        "ActionPointCompleted",
        "DocumentRejected",
        "ActionPointReopened",
        "DocumentUploaded",
        "ActionPointCompleted",
        "DocumentApproved",
    ]
    # The reason is personal: sealed on the topic, opened with the dossier's key.
    [rejection] = [e for e in events if e["type"] == "DocumentRejected"]
    assert open_sealed(system, office, dossier, rejection["data"]["reason"]) == reason
    [reopening] = of_point(events, "ActionPointReopened", point_id)
    assert open_sealed(system, office, dossier, reopening["data"]["reason"]) == reason


def test_an_office_that_counts_approved_documents_sees_progress_only_after_approval(
    system: System, kafka: Broker
) -> None:
    office, dossier = system.office(), "dossier-1"
    # Until the office chooses, the progress counts what the client delivered.
    settings = system.get("dossiercontrole", "/portal-settings", office.admin)
    assert settings.status_code == 200, settings.text
    assert settings.json() == {"progress_counts": "received"}

    # Only the admin chooses; the office counts approved documents from now on.
    body = {"progress_counts": "approved"}
    assert (
        system.put("dossiercontrole", "/portal-settings", office.adviser, json=body).status_code
        == 403
    )
    assert (
        system.put(
            "dossiercontrole", "/portal-settings", office.admin, json={"progress_counts": "all"}
        ).status_code
        == 422
    )
    chosen = system.put("dossiercontrole", "/portal-settings", office.admin, json=body)
    assert (chosen.status_code, chosen.json()) == (200, body), chosen.text
    assert system.get("dossiercontrole", "/portal-settings", office.adviser).json() == body
    # Another office keeps its own choice.
    assert system.get("dossiercontrole", "/portal-settings", system.office().admin).json() == {
        "progress_counts": "received"
    }
    published(kafka, office, lambda es: any(e["type"] == "PortalSettingsChanged" for e in es))

    # The client delivers: the action point is done, but the progress waits for the adviser.
    request_document(system, office, dossier, "loonstrook", title="Loonstrook")
    document_id = dossier_check_when(system, office, dossier, 1)["loonstrook"]["document_id"]
    deliver(system, office, dossier, document_id)

    def delivered_but_not_counted() -> None:
        portal = system.portal(office, dossier)
        [point] = portal["action_points"]
        assert (point["status"], point["document_status"]) == ("completed", "uploaded")
        assert portal["progress"] == {"open": 1, "completed": 0, "percent": 0}

    eventually(delivered_but_not_counted, timeout=SETTLE)

    # The adviser approves it: now it counts.
    assert review(system, office.adviser, document_id, "approve").status_code == 200
    eventually(
        lambda: _assert(system.portal(office, dossier)["progress"]["completed"] == 1),
        timeout=SETTLE,
    )


def _assert(condition: bool) -> None:
    assert condition


# --- due dates and overdue ------------------------------------------------------------------------


def test_a_request_due_soon_becomes_overdue_at_its_moment(system: System, kafka: Broker) -> None:
    office, dossier = system.office(), "dossier-1"
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    request_document(system, office, dossier, "loonstrook", due_at=due.isoformat())
    found = dossier_check_when(system, office, dossier, 1)["loonstrook"]
    point_id = found["action_point"]["action_point_id"]
    assert moment(found["due_at"]) == due
    if datetime.now(UTC) < due - timedelta(seconds=1):
        assert found["overdue"] is False

    # The dossier check and the portal show the due date ...
    def shown_on_the_portal() -> None:
        points = portal_points(system, office, dossier)
        assert found["document_id"] in points  # the portal may not have it yet
        assert moment(points[found["document_id"]]["due_at"]) == due

    eventually(shown_on_the_portal, timeout=SETTLE)

    # ... and once it passes, the open action point is overdue, by itself.
    def overdue() -> None:
        assert document(system, office, dossier, found["document_id"])["overdue"] is True
        assert portal_points(system, office, dossier)[found["document_id"]]["overdue"] is True

    eventually(overdue, timeout=SETTLE)
    events = published(kafka, office, lambda es: bool(of_point(es, "ActionPointOverdue", point_id)))
    [event] = of_point(events, "ActionPointOverdue", point_id)
    assert moment(event["data"]["due_at"]) == due
    assert moment(event["time"]) >= due

    # A delivery completes it: no longer overdue.
    deliver(system, office, dossier, found["document_id"])
    eventually(
        lambda: _assert(
            portal_points(system, office, dossier)[found["document_id"]]["overdue"] is False
        ),
        timeout=SETTLE,
    )


def test_due_dates_come_from_the_request_the_scenario_or_the_document_type(
    system: System,
) -> None:
    office, dossier = system.office(), "dossier-1"
    # A date-only due date is the end of that day in Amsterdam.
    request_document(system, office, dossier, "identiteitsbewijs", due_on="2030-06-15")
    # The document type gives a default due time; a scenario item its own.
    assert configure_type(system, office, "werkgeversverklaring", due_in="P7D").status_code == 200
    request_document(system, office, dossier, "werkgeversverklaring")
    scenario = system.define_scenario(
        office, "hypotheek", items=[{"document_type": "jaaropgave", "due_in": "P14D"}]
    )
    started = datetime.now(UTC)
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": dossier, "subject": product(), "scenario_ids": [scenario]},
    )
    assert response.status_code == 201, response.text

    documents = dossier_check_when(system, office, dossier, 3)
    end_of_day = moment(documents["identiteitsbewijs"]["due_at"]).astimezone(AMSTERDAM)
    assert end_of_day.date().isoformat() == "2030-06-15"
    assert end_of_day.time() >= datetime(2030, 6, 15, 23, 59).time()
    for code, days in (("werkgeversverklaring", 7), ("jaaropgave", 14)):
        due = moment(documents[code]["due_at"])
        assert started + timedelta(days=days) - timedelta(minutes=1) <= due, code
        assert due <= datetime.now(UTC) + timedelta(days=days), code

    # What is no due date is refused, with a message.
    for extra in (
        {"due_at": "tomorrow"},
        {"due_on": "2030-02-30"},
        {"due_at": "2030-06-15T12:00:00+02:00", "due_on": "2030-06-15"},
    ):
        response = system.post(
            "scenario",
            "/document-requests",
            office.adviser,
            json={"dossier_id": dossier, "subject": product(), "document_type": "x", **extra},
        )
        assert response.status_code == 422, (extra, response.text)
    assert configure_type(system, office, "bankafschrift", due_in="7 days").status_code == 422
    assert configure_type(system, office, "bankafschrift", valid_for="P3X").status_code == 422


# --- reminders ------------------------------------------------------------------------------------


def test_reminders_follow_the_offices_schedule_and_stop_at_its_maximum(
    system: System, kafka: Broker
) -> None:
    office, dossier = system.office(), "dossier-1"
    schedule = system.get("dossiercontrole", "/reminder-schedule", office.admin)
    assert schedule.status_code == 200, schedule.text
    assert set(schedule.json()) >= {"before_due", "on_due", "every_after_due", "max_reminders"}

    # Only the office's admin sets it, and only to a schedule that makes sense.
    fast = {"before_due": ["PT2S"], "on_due": True, "every_after_due": "PT2S", "max_reminders": 3}
    assert (
        system.put("dossiercontrole", "/reminder-schedule", office.adviser, json=fast).status_code
        == 403
    )
    for bad in ({**fast, "before_due": ["soon"]}, {**fast, "max_reminders": -1}):
        response = system.put("dossiercontrole", "/reminder-schedule", office.admin, json=bad)
        assert response.status_code == 422, (bad, response.text)
    response = system.put("dossiercontrole", "/reminder-schedule", office.admin, json=fast)
    assert response.status_code == 200, response.text
    assert system.get("dossiercontrole", "/reminder-schedule", office.admin).json() == fast
    # Another office keeps its own.
    assert system.get("dossiercontrole", "/reminder-schedule", system.office().admin).json() != fast

    # Two requests due in a few seconds; the client delivers one of them at once, well before
    # its first reminder (2 seconds before its due date).
    due = datetime.now(UTC) + timedelta(seconds=5)
    delivered_due = due + timedelta(seconds=3)
    request_document(
        system, office, dossier, "loonstrook", title="Loonstrook", due_at=due.isoformat()
    )
    request_document(system, office, dossier, "jaaropgave", due_at=delivered_due.isoformat())
    documents = dossier_check_when(system, office, dossier, 2)
    delivered = documents["jaaropgave"]
    deliver(system, office, dossier, delivered["document_id"])
    delivered_in_time = datetime.now(UTC) < delivered_due - timedelta(seconds=2)
    open_point = documents["loonstrook"]["action_point"]["action_point_id"]

    # The open one is reminded before, on and after its due date, three times in all.
    def reminded_three_times(events: list[dict[str, Any]]) -> bool:
        return len(of_point(events, "ActionPointReminderDue", open_point)) >= 3

    events = published(kafka, office, reminded_three_times)
    reminders = of_point(events, "ActionPointReminderDue", open_point)
    assert [r["data"]["reminder_number"] for r in reminders] == [1, 2, 3]
    first = reminders[0]["data"]
    assert (first["dossier_id"], first["document_type"]) == (dossier, "loonstrook")
    assert open_sealed(system, office, dossier, first["title"]) == "Loonstrook"
    assert moment(first["due_at"]) == moment(due.isoformat())
    assert dossier in first["portal_path"]
    assert moment(reminders[0]["time"]) < moment(reminders[2]["time"])

    # The maximum holds, across the scheduler's ticks; the delivered one was never reminded.
    sentinel_due = datetime.now(UTC) + timedelta(seconds=3)
    request_document(system, office, dossier, "sentinel", due_at=sentinel_due.isoformat())
    sentinel = dossier_check_when(system, office, dossier, 3)["sentinel"]["action_point"]
    events = published(
        kafka,
        office,
        lambda es: bool(of_point(es, "ActionPointOverdue", sentinel["action_point_id"])),
    )
    assert len(of_point(events, "ActionPointReminderDue", open_point)) == 3
    if delivered_in_time:
        completed = delivered["action_point"]["action_point_id"]
        assert of_point(events, "ActionPointReminderDue", completed) == []
    else:
        print("the machine was so slow that the delivery came after its first reminder's moment")


def test_the_adviser_reminds_the_client_now(system: System, kafka: Broker) -> None:
    office, dossier = system.office(), "dossier-1"
    request_document(system, office, dossier, "loonstrook")
    request_document(system, office, dossier, "jaaropgave")
    documents = dossier_check_when(system, office, dossier, 2)
    point = documents["loonstrook"]["action_point"]["action_point_id"]

    def remind(headers: dict[str, str], action_point_id: str) -> int:
        path = f"/action-points/{action_point_id}/remind"
        return int(system.post("dossiercontrole", path, headers).status_code)

    assert remind(office.client(dossier), point) == 403
    assert remind(system.office().adviser, point) == 404
    assert remind(office.adviser, str(uuid.uuid4())) == 404
    assert remind(office.adviser, point) == 202
    events = published(
        kafka, office, lambda es: bool(of_point(es, "ActionPointReminderDue", point))
    )
    [reminder] = of_point(events, "ActionPointReminderDue", point)
    assert reminder["data"]["reminder_number"] == 1
    # It lists what is still open in the dossier, for one message to the client.
    open_items = {i["document_type"] for i in reminder["data"].get("open_items", [])}
    assert {"loonstrook", "jaaropgave"} <= open_items

    # A completed action point is not reminded.
    deliver(system, office, dossier, documents["loonstrook"]["document_id"])
    assert remind(office.adviser, point) == 409


# --- validity windows -----------------------------------------------------------------------------


def test_a_delivered_document_expires_and_is_requested_again_where_its_type_says_so(
    system: System, kafka: Broker
) -> None:
    office, dossier = system.office(), "dossier-1"
    assert (
        configure_type(
            system, office, "loonstrook", valid_for="PT3S", rerequest_on_expiry=True
        ).status_code
        == 200
    )
    assert configure_type(system, office, "taxatierapport", valid_for="PT3S").status_code == 200
    types = system.get("dossiercontrole", "/document-types", office.admin).json()["document_types"]
    [payslip_type] = [t for t in types if t["code"] == "loonstrook"]
    assert (payslip_type["valid_for"], payslip_type["rerequest_on_expiry"]) == ("PT3S", True)

    request_document(system, office, dossier, "loonstrook")
    request_document(system, office, dossier, "taxatierapport")
    documents = dossier_check_when(system, office, dossier, 2)
    payslip, valuation = documents["loonstrook"], documents["taxatierapport"]
    assert payslip["valid_until"] is None  # nothing delivered yet
    delivered = deliver(system, office, dossier, payslip["document_id"])
    deliver(system, office, dossier, valuation["document_id"])
    uploaded_at = moment(delivered["file"]["uploaded_at"])
    assert moment(delivered["valid_until"]) == uploaded_at + timedelta(seconds=3)

    # At the end of the window both expire; the payslip is requested again, linked to it.
    def expired_and_requested_again() -> dict[str, Any]:
        now = {d["document_id"]: d for d in system.documents(office, dossier)}
        assert now[payslip["document_id"]]["status"] == "expired"
        assert now[valuation["document_id"]]["status"] == "expired"
        [again] = [
            d for d in now.values() if d.get("replaces_document_id") == payslip["document_id"]
        ]
        return again

    again = eventually(expired_and_requested_again, timeout=SETTLE)
    assert (again["document_type"], again["status"], again["source"]) == (
        "loonstrook",
        "requested",
        "expired",
    )
    assert again["subject"] == payslip["subject"]
    assert again["action_point"]["status"] == "open"
    only_payslips = [
        d for d in system.documents(office, dossier) if d["document_type"] == "loonstrook"
    ]
    assert len(only_payslips) == 2  # the expired one stays, for the record

    # The client sees the new task, and why; the old one stays completed.
    def on_the_portal() -> None:
        points = portal_points(system, office, dossier)
        assert points[again["document_id"]]["status"] == "open"
        assert points[again["document_id"]]["replaces_document_id"] == payslip["document_id"]
        assert points[payslip["document_id"]]["status"] == "completed"

    eventually(on_the_portal, timeout=SETTLE)

    # An expired document is not reviewed; the facts were published once.
    assert review(system, office.adviser, payslip["document_id"], "approve").status_code == 409
    events = published(
        kafka,
        office,
        lambda es: sum(e["type"] == "DocumentExpired" for e in es) >= 2,
    )
    expiries = {
        e["data"]["document_id"]: e["data"] for e in events if e["type"] == "DocumentExpired"
    }
    assert expiries[payslip["document_id"]]["rerequested_document_id"] == again["document_id"]
    assert expiries[valuation["document_id"]].get("rerequested_document_id") is None


def test_make_run_gives_the_demo_office_the_hdn_windows_and_keeps_its_own_settings(
    system: System,
) -> None:
    office = system.office()
    admin_token = office.token("admin")

    # `actiepunten run` puts the example types once the services are up.
    put = seed_document_types(system.url("dossiercontrole"), admin_token)

    assert sorted(put) == ["loonstrook", "taxatierapport", "werkgeversverklaring"]
    types = system.get("dossiercontrole", "/document-types", office.admin).json()["document_types"]
    windows = {t["code"]: (t["valid_for"], t["rerequest_on_expiry"], t["due_in"]) for t in types}
    assert windows == {
        "loonstrook": ("P3M", True, "P14D"),
        "taxatierapport": ("P6M", False, "P14D"),
        "werkgeversverklaring": ("P3M", True, "P14D"),
    }

    # The admin shortens the payslip's window; the next start leaves the office's choice alone.
    assert configure_type(system, office, "loonstrook", valid_for="P1M").status_code == 200
    assert seed_document_types(system.url("dossiercontrole"), admin_token) == []
    types = system.get("dossiercontrole", "/document-types", office.admin).json()["document_types"]
    assert [t["valid_for"] for t in types if t["code"] == "loonstrook"] == ["P1M"]
