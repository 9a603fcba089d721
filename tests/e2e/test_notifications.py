"""Telling the client by e-mail (SPEC section 8), end to end: the four services on the real
broker, mailing to a real SMTP server (Mailpit, or aiosmtpd where Go cannot build it), whose
received mails the stories read."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import pytest

from devtools.mail import Mailpit, SmtpSink
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
    wait_until_caught_up,
    wait_until_notified_up,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")
    wait_until_notified_up(system)


def contact(system: System, office: Office, dossier_id: str, **data: Any) -> tuple[int, int]:
    fields = {"dossier_id": dossier_id, "client_id": "klant-1", "name": "Jan de Vries"}
    fields.update({"salutation": "formal", **data})
    event = cloud_event("ClientContactChanged", office.tenant, dossier_id, fields)
    return publish(system.bootstrap_servers, topics.CLIENTS, event, f"{office.tenant}:{dossier_id}")


def mails_to(server: Mailpit | SmtpSink, address: str) -> list[EmailMessage]:
    return [m for m in server.messages() if address in str(m["To"])]


def request_document(system: System, office: Office, dossier_id: str, title: str) -> None:
    response = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": dossier_id,
            "subject": product(),
            "document_type": "loonstrook",
            "title": title,
            "action_point": True,
        },
    )
    assert response.status_code == 201, response.text


def test_the_admin_chooses_the_digest_window_and_quiet_time(system: System) -> None:
    office = system.office()
    settings = {
        "digest_window": "PT2M",
        "quiet_hours": {"from": "21:00", "until": "08:00"},
        "quiet_days": ["sunday"],
    }
    answer = system.put("notification", "/notification-settings", office.admin, json=settings)
    assert answer.status_code == 200, answer.text
    assert system.get("notification", "/notification-settings", office.adviser).json() == settings
    # Only the admin sets them; a client reads nothing; a wrong body says what is wrong.
    as_adviser = system.put("notification", "/notification-settings", office.adviser, json=settings)
    assert as_adviser.status_code == 403
    assert (
        system.get("notification", "/notification-settings", office.client("d")).status_code == 403
    )
    wrong = {**settings, "digest_window": "P1M", "quiet_days": ["zondag"]}
    refused = system.put("notification", "/notification-settings", office.admin, json=wrong)
    assert refused.status_code == 422
    assert {issue["loc"][-1] for issue in refused.json()["detail"]} >= {"digest_window", 0}


def test_the_client_gets_one_mail_for_new_action_points_with_a_sign_in_link(
    system: System, mail_server: Mailpit | SmtpSink
) -> None:
    office = system.office()
    quick = {"digest_window": "PT1S", "quiet_hours": None, "quiet_days": []}
    answer = system.put("notification", "/notification-settings", office.admin, json=quick)
    assert answer.status_code == 200, answer.text
    dossier_id = f"dossier-{uuid.uuid4().hex[:6]}"
    address = f"jan-{uuid.uuid4().hex[:8]}@example.nl"
    contact(system, office, dossier_id, email=address)
    request_document(system, office, dossier_id, "Loonstrook maart")

    [mail] = eventually(lambda: _exactly_one(mails_to(mail_server, address)), timeout=60)
    assert mail["Subject"] == "Nieuwe actiepunten in uw dossier"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Loonstrook maart" in text
    assert f"/app/signin?office={office.tenant}&next=%2Fapp%2Fdossiers%2F{dossier_id}" in text
    sent = read_events(
        system.bootstrap_servers,
        topics.NOTIFICATIONS,
        office.tenant,
        until=lambda events: any(e["type"] == "NotificationSent" for e in events),
        timeout=30,
    )
    assert sent[0]["data"]["message_id"] == mail["Message-ID"]
    assert sent[0]["data"]["client_id"] == "klant-1"


def _exactly_one(mails: list[EmailMessage]) -> list[EmailMessage]:
    assert len(mails) == 1, len(mails)
    return mails


def test_a_contact_without_a_valid_address_is_a_dead_letter_with_the_reason(
    system: System,
) -> None:
    office = system.office()
    bad = contact(system, office, "dossier-x", email="geen adres")
    unknown = contact(system, office, "dossier-x", email="jan@example.nl", salutation="mevrouw")
    origins = [(topics.CLIENTS, *bad), (topics.CLIENTS, *unknown)]
    letters = read_dead_letters(
        system.bootstrap_servers, topics.NOTIFICATIONS_DLQ, origins, expected=origins
    )
    assert "email" in letters[origins[0]]["reason"]
    assert "salutation" in letters[origins[1]]["reason"]
