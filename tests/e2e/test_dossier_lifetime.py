"""Stories of a dossier's lifetime (SPEC section 11, issue 22): the client withdraws, the adviser
closes the dossier, its open action points leave the portal, and a request that arrives for it
afterwards is dead-lettered with the reason; the client returns, the adviser reopens it, and the
tasks are back. A declined dossier is erased everywhere when the office's retention period has
passed (also after a republish and a replay of the portal); an admin erases a closed one at
once, and a file another dossier also holds stays.

Through the running services on each store: HTTP for what the adviser and the client do and
see, the real broker in between.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.e2e.test_operations import actiepunten
from tests.support import (
    Office,
    System,
    cloud_event,
    eventually,
    open_sealed,
    pdf_file,
    product,
    publish,
    read_dead_letters,
    read_events,
    start_runs,
    stored_blob,
    unique_events,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-levensloop"
PDF = pdf_file()


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
        "erased_at": None,
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


# --- erasure: by the retention policy, and by an admin at once ----------------------------------


FILENAME = "paspoort-jan-de-vries.pdf"


def _delivered(system: System, office: Office, dossier: str, content: bytes) -> str:
    """A scenario of two documents on ``dossier``; the client delivers ``content`` for the
    first (a filename that names the client). Its SHA-256."""
    scenario_id = system.define_scenario(office, "hypotheek", "identiteitsbewijs", "loonstrook")
    assert start_runs(system, office, dossier, product(), scenario_id).status_code == 201

    def two() -> list[dict[str, Any]]:
        documents = system.documents(office, dossier)
        assert len(documents) == 2, documents
        return documents

    first = eventually(two, timeout=30)[0]
    upload = system.post(
        "dossiercontrole",
        f"/documents/{first['document_id']}/upload",
        office.client(dossier),
        files={"file": (FILENAME, content, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    return hashlib.sha256(content).hexdigest()


def _dossier_records(system: System, office: Office, dossier: str, until: str) -> list[Any]:
    """The dossier's records on the dossier check's topic, raw, once one of type ``until``
    is there."""
    events = read_events(
        system.bootstrap_servers,
        topics.DOSSIERCONTROLE,
        office.tenant,
        until=lambda found: until in [e["type"] for e in found if e["dossierid"] == dossier],
    )
    return [e for e in events if e["dossierid"] == dossier]


def _work_queue_dossiers(system: System, office: Office) -> set[str]:
    items = system.get("portal", "/work-queue", office.adviser, params={"kind": "to_review"})
    assert items.status_code == 200, items.text
    return {item["dossier_id"] for item in items.json()["items"]}


def test_a_declined_dossier_is_erased_everywhere_when_its_retention_passes(
    system: System,
) -> None:
    office = system.office()
    dossier = "dossier-afgewezen"
    # The admin keeps a declined application three seconds (SPEC: durations, so tests use
    # seconds); a period of zero, or the adviser, is refused.
    fast = {"completed": "P5Y", "withdrawn": "P1Y", "declined": "PT3S"}
    default = system.get("dossiercontrole", "/retention-policy", office.admin)
    assert default.json() == {"completed": "P5Y", "withdrawn": "P1Y", "declined": "P30D"}
    zero = system.put(
        "dossiercontrole", "/retention-policy", office.admin, json={**fast, "declined": "PT0S"}
    )
    assert zero.status_code == 422 and "longer than zero" in zero.text
    assert (
        system.put("dossiercontrole", "/retention-policy", office.adviser, json=fast).status_code
        == 403
    )
    assert (
        system.put("dossiercontrole", "/retention-policy", office.admin, json=fast).json() == fast
    )

    # A delivered payslip waits for review; the contact is known; then the lender declines.
    sha256 = _delivered(system, office, dossier, pdf_file("declined payslip"))
    contact = {"dossier_id": dossier, "client_id": "klant-9", "name": "Jan", "salutation": "formal"}
    contact["email"] = "jan@example.org"
    event = cloud_event("ClientContactChanged", office.tenant, dossier, contact)
    publish(system.bootstrap_servers, topics.CLIENTS, event, f"{office.tenant}:{dossier}")
    eventually(lambda: _has(_work_queue_dossiers(system, office), dossier), timeout=30)
    # On the topic the filename is sealed; a platform service with the key reads it.
    records = _dossier_records(system, office, dossier, "DocumentUploaded")
    assert FILENAME not in json.dumps(records, default=str)
    [uploaded] = {e["id"]: e for e in records if e["type"] == "DocumentUploaded"}.values()
    sealed = uploaded["data"]["file"]["filename"]
    assert sealed.startswith("enc:v1:") and open_sealed(system, office, dossier, sealed) == FILENAME
    closed = system.post(
        "dossiercontrole",
        f"/dossiers/{dossier}/close",
        office.adviser,
        json={"outcome": "declined"},
    )
    assert closed.status_code == 200, closed.text

    # Seconds later the scheduler has erased it: the dossier check, its file, the portal and
    # the work queue no longer hold it; DossierErased says who and when.
    def erased() -> None:
        assert system.documents(office, dossier) == []
        assert stored_blob(system, sha256) is None
        assert system.portal_all(office, dossier) == []
        assert dossier not in _work_queue_dossiers(system, office)

    eventually(erased, timeout=60, interval=0.5)
    events = read_events(
        system.bootstrap_servers,
        topics.DOSSIERCONTROLE,
        office.tenant,
        until=lambda found: "DossierErased" in [e["type"] for e in found],
    )
    [erasure] = [e for e in unique_events(events) if e["type"] == "DossierErased"]
    assert erasure["dossierid"] == dossier and erasure["data"]["erased_by"] == "retention-policy"
    reopen = system.post("dossiercontrole", f"/dossiers/{dossier}/reopen", office.adviser)
    assert reopen.status_code == 409 and "was erased at" in reopen.json()["detail"]

    # Its history still tells what happened, the personal fields erased.
    history = actiepunten(system, "dossier", "history", dossier, "--tenant", office.tenant)
    assert "DocumentUploaded" in history and "[gewist]" in history, history
    assert "jan-de-vries" not in history

    # Republishing the dossier check's log and rebuilding the portal from the topic bring
    # nothing of it back: its events are followed by its erasure there too, and the
    # republished ones carry the personal fields erased.
    assert "republished" in actiepunten(system, "republish", "dossiercontrole")
    again = _dossier_records(system, office, dossier, "DossierErased")
    uploads = [e for e in again if e["type"] == "DocumentUploaded"]
    assert {e["data"]["file"]["filename"] for e in uploads} >= {sealed, "[gewist]"}
    assert FILENAME not in json.dumps(again, default=str)
    assert "portal read model rebuilt in" in actiepunten(system, "replay", "portal", timeout=300)
    time.sleep(2.5)  # the portal looks for a new model every second
    assert system.portal_all(office, dossier) == []
    assert dossier not in _work_queue_dossiers(system, office)


def test_an_admin_erases_a_closed_dossier_and_a_shared_file_stays(system: System) -> None:
    office = system.office()
    shared = pdf_file("a bank statement both partners' dossiers hold")
    sha256 = _delivered(system, office, "dossier-partner-1", shared)
    _delivered(system, office, "dossier-partner-2", shared)

    early = system.post("dossiercontrole", "/dossiers/dossier-partner-1/erase", office.admin)
    assert early.status_code == 409 and "is not closed" in early.json()["detail"]
    closed = system.post(
        "dossiercontrole",
        "/dossiers/dossier-partner-1/close",
        office.adviser,
        json={"outcome": "completed"},
    )
    assert closed.status_code == 200, closed.text
    by_adviser = system.post("dossiercontrole", "/dossiers/dossier-partner-1/erase", office.adviser)
    assert by_adviser.status_code == 403
    # A platform service reads the dossier's data key; no other role may.
    key_path = "/dossiers/dossier-partner-1/data-key"
    key = system.get("dossiercontrole", key_path, office.headers("service"))
    assert key.status_code == 200 and len(base64.b64decode(key.json()["key"])) == 32
    for role in ("adviser", "admin", "client"):
        refused = system.get("dossiercontrole", key_path, office.headers(role))
        assert refused.status_code == 403, role
    unknown = system.get("dossiercontrole", "/dossiers/nobody/data-key", office.headers("service"))
    assert unknown.status_code == 404

    erased = system.post("dossiercontrole", "/dossiers/dossier-partner-1/erase", office.admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["status"] == "erased" and erased.json()["erased_at"]
    again = system.post("dossiercontrole", "/dossiers/dossier-partner-1/erase", office.admin)
    assert again.status_code == 409 and "was erased at" in again.json()["detail"]
    gone = system.get("dossiercontrole", key_path, office.headers("service"))
    assert gone.status_code == 410 and "its key is gone" in gone.json()["detail"]
    # A replaying consumer asks for a batch's keys at once: the erased one is listed so.
    ids = {"dossier_ids": ["dossier-partner-1", "dossier-partner-2", "nobody"]}
    many = system.post("dossiercontrole", "/data-keys", office.headers("service"), json=ids)
    assert many.status_code == 200, many.text
    assert (many.json()["erased"], many.json()["unknown"]) == (["dossier-partner-1"], ["nobody"])
    assert list(many.json()["keys"]) == ["dossier-partner-2"]
    # The scenario service asks with "make": a dossier without a key gets one, an erased one not.
    made = system.post(
        "dossiercontrole", "/data-keys", office.headers("service"), json={**ids, "make": True}
    )
    assert made.status_code == 200, made.text
    assert (made.json()["erased"], made.json()["unknown"]) == (["dossier-partner-1"], [])
    assert sorted(made.json()["keys"]) == ["dossier-partner-2", "nobody"]
    assert system.post("dossiercontrole", "/data-keys", office.adviser, json=ids).status_code == 403
    empty = system.post(
        "dossiercontrole", "/data-keys", office.headers("service"), json={"dossier_ids": []}
    )
    assert empty.status_code == 422

    # The other dossier still has the statement: its file stays, and its client can open it.
    assert system.documents(office, "dossier-partner-1") == []
    assert stored_blob(system, sha256) == shared
    document = next(d for d in system.documents(office, "dossier-partner-2") if d["versions"])
    download = system.get(
        "dossiercontrole",
        f"/documents/{document['document_id']}/file",
        office.client("dossier-partner-2"),
    )
    assert download.status_code == 200 and download.content == shared


def _has(found: set[str], dossier: str) -> None:
    assert dossier in found, found


# --- the scenario service's personal fields: sealed on its topic, erased with the dossier ------

REQUEST_TITLE = "Bankafschrift Jan de Vries, rekening bij de Rabobank"
REQUEST_NOTE = "Jan, graag ook de pagina met het saldo van 1 januari"
NAMES = ("Jan de Vries", "Sanne de Vries")


def _scenario_records(system: System, office: Office, dossier: str, count: int) -> list[Any]:
    """The dossier's ``DocumentRequested`` records on the scenario topic, raw, once there are
    ``count`` of them (a republish adds copies)."""

    def enough(found: list[dict[str, Any]]) -> bool:
        mine = [e for e in found if e["dossierid"] == dossier and e["type"] == "DocumentRequested"]
        return len(mine) >= count

    events = read_events(system.bootstrap_servers, topics.SCENARIO, office.tenant, until=enough)
    return [e for e in events if e["dossierid"] == dossier and e["type"] == "DocumentRequested"]


def test_an_advisers_personal_request_is_sealed_on_the_scenario_topic_and_erased_with_the_dossier(
    system: System,
) -> None:
    office = system.office()
    dossier = "dossier-bankafschrift"
    # The adviser names the household and asks for a document in words about the client, for a
    # dossier the dossier check has not heard of yet.
    persons = [{"role": "aanvrager", "name": NAMES[0]}, {"role": "partner", "name": NAMES[1]}]
    household = system.put(
        "scenario", f"/dossiers/{dossier}/household", office.adviser, json={"persons": persons}
    )
    assert household.status_code == 200, household.text
    requested = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": dossier,
            "subject": product(),
            "document_type": "bankafschrift",
            "title": REQUEST_TITLE,
            "instructions": REQUEST_NOTE,
            "action_point": True,
        },
    )
    assert requested.status_code == 201, requested.text

    # On the scenario topic the title and the instructions are sealed with the dossier's key.
    [record] = _scenario_records(system, office, dossier, 1)
    assert not {REQUEST_TITLE, REQUEST_NOTE, *NAMES} & set(_texts(record))
    sealed_title, sealed_note = record["data"]["title"], record["data"]["instructions"]
    assert open_sealed(system, office, dossier, sealed_title) == REQUEST_TITLE
    assert open_sealed(system, office, dossier, sealed_note) == REQUEST_NOTE

    # The dossier check and the client's portal show them plain.
    def shown() -> None:
        documents = system.documents(office, dossier)
        assert [(d["title"], d.get("instructions")) for d in documents] == [
            (REQUEST_TITLE, REQUEST_NOTE)
        ]
        assert [p["title"] for p in system.portal_all(office, dossier)] == [REQUEST_TITLE]

    eventually(shown, timeout=30)
    names = system.get("scenario", f"/dossiers/{dossier}/household", office.adviser).json()
    assert [p["name"] for p in names["persons"]] == list(NAMES)

    # The adviser closes the dossier, the admin erases it.
    closed = system.post(
        "dossiercontrole",
        f"/dossiers/{dossier}/close",
        office.adviser,
        json={"outcome": "withdrawn"},
    )
    assert closed.status_code == 200, closed.text
    erased = system.post("dossiercontrole", f"/dossiers/{dossier}/erase", office.admin)
    assert erased.status_code == 200, erased.text

    # The history reads the scenario service's store as erased too (a fresh process).
    # (The notification service's store still holds the action point's title in its digest's
    # items: not sealed yet, README "Not sealed".)
    history = actiepunten(system, "dossier", "history", dossier, "--tenant", office.tenant)
    ours = [line for line in history.splitlines() if " scenario " in line or "dossierc" in line]
    assert any("DocumentRequest.Requested" in line for line in ours), history
    assert any("title=[gewist]" in line for line in ours), history
    for text in (REQUEST_TITLE, REQUEST_NOTE, *NAMES):
        assert not [line for line in ours if text in line], (text, history)

    # A republish of the scenario service's log publishes the fields erased.
    assert "republished" in actiepunten(system, "republish", "scenario")
    again = _scenario_records(system, office, dossier, 2)
    assert {e["data"]["title"] for e in again} == {sealed_title, "[gewist]"}
    assert {e["data"]["instructions"] for e in again} == {sealed_note, "[gewist]"}
    assert not {REQUEST_TITLE, REQUEST_NOTE, *NAMES} & {t for e in again for t in _texts(e)}


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return [value] if isinstance(value, str) else []
