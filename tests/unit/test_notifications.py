"""Telling the client (SPEC section 8): the notification service's stories on an in-memory store,
mailing through a real SMTP server in this process (aiosmtpd), never a mock of the client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

from devtools.mail import SmtpSink
from servicekit.mail import SmtpMailer, SmtpSettings, TemporaryFailure
from services.notification_service.application import (
    Change,
    ChangeContact,
    Note,
    Notifications,
    SetNotificationSettings,
)
from services.notification_service.domainmodel import AMSTERDAM, Item, Kind, Quiet, QuietHours
from services.notification_service.kafka import OUTBOX
from services.notification_service.scheduler import DigestScheduler, Outgoing

OFFICE = "kantoor-1"
DOSSIER = "dossier/1"
OPENED = datetime(2026, 3, 4, 10, 0, 1, tzinfo=UTC)  # a Wednesday, 11:00 in Amsterdam
PORTAL = "https://portaal.example.nl"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def app() -> Iterator[Notifications]:
    application = Notifications(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield application
    application.close()


def scheduler_for(app: Notifications, smtp: SmtpSink) -> DigestScheduler:
    mailer = SmtpMailer(SmtpSettings(port=smtp.port, timeout=5))
    return DigestScheduler(app, mailer, Outgoing("Kantoor <kantoor@example.nl>", PORTAL))


def contact(app: Notifications, client: str, email: str, salutation: str = "formal") -> None:
    app.change_contact(
        ChangeContact(OFFICE, DOSSIER, client, email, f"Naam {client}", salutation), None
    )


def opened(app: Notifications, title: str, at: datetime = OPENED, point: str = "") -> str:
    point = point or str(uuid4())
    due = datetime(2026, 3, 18, 22, 59, 59, tzinfo=UTC)
    note = Note(OFFICE, DOSSIER, Kind.NEW_ACTION_POINTS, (Item(point, title, due),), at)
    app.note(note, at, None)
    return point


def text_of(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def published(app: Notifications) -> list[dict[str, object]]:
    translate = OUTBOX.translator(app)
    facts = []
    for notification in app.recorder.select_notifications(0, 1000):
        for fact in translate(app.mapper.to_domain_event(notification)):
            facts.append({"type": fact.type, **fact.data.model_dump(mode="json")})
    return facts


def test_new_action_points_of_one_window_go_in_one_mail_to_each_contact(
    app: Notifications, smtp: SmtpSink
) -> None:
    contact(app, "klant-1", "jan@example.nl", "formal")
    contact(app, "partner-1", "eva@example.nl", "informal")
    # Two action points open within the office's five-minute window; the first arrives twice.
    first = opened(app, "Identiteitsbewijs")
    opened(app, "Identiteitsbewijs", point=first)
    opened(app, "Werkgeversverklaring <b>", at=OPENED + timedelta(minutes=2))
    scheduler = scheduler_for(app, smtp)

    # Nothing goes out before the window ends; at its end one mail per contact.
    assert scheduler.run_due(OPENED + timedelta(minutes=3)) == 0
    assert scheduler.run_due(OPENED + timedelta(minutes=5)) == 1
    assert scheduler.run_due(OPENED + timedelta(minutes=6)) == 0

    jan, eva = sorted(smtp.messages(), key=lambda m: str(m["To"]))
    assert jan["Subject"] == "Nieuwe actiepunten in uw dossier"
    assert eva["Subject"] == "Nieuwe actiepunten in je dossier"
    text, html = text_of(jan)
    assert "Identiteitsbewijs (uiterlijk 18-03-2026)" in text
    assert text.count("Identiteitsbewijs") == 1
    assert "Werkgeversverklaring &lt;b&gt;" in html and "<b>" not in html
    link = f"{PORTAL}/app/signin?office=kantoor-1&next=%2Fapp%2Fdossiers%2Fdossier%252F1"
    assert link in text and "token" not in text
    facts = published(app)
    assert [(f["type"], f["client_id"]) for f in facts] == [
        ("NotificationSent", "klant-1"),
        ("NotificationSent", "partner-1"),
    ]
    assert {jan["Message-ID"], eva["Message-ID"]} == {f["message_id"] for f in facts}


def test_a_crash_after_the_server_accepted_sends_again_under_the_same_message_id(
    app: Notifications, smtp: SmtpSink
) -> None:
    contact(app, "klant-1", "jan@example.nl")
    opened(app, "Loonstrook")
    scheduler = scheduler_for(app, smtp)
    original_record = app.record_sent

    def crash(*args: object) -> None:
        raise SystemError("killed before recording")

    app.record_sent = crash  # type: ignore[method-assign]
    scheduler.run_due(OPENED + timedelta(minutes=5))
    app.record_sent = original_record  # type: ignore[method-assign]
    # A new process (the restart) reads the log again and finds the mail not recorded as sent.
    scheduler_for(app, smtp).run_due(OPENED + timedelta(minutes=6))

    first, again = smtp.messages()
    assert first["Message-ID"] == again["Message-ID"]
    assert [f["type"] for f in published(app)] == ["NotificationSent"]


def test_a_refusal_for_good_fails_the_notification_a_temporary_one_is_tried_again(
    app: Notifications, smtp: SmtpSink
) -> None:
    contact(app, "klant-1", "weg@example.nl")
    contact(app, "klant-2", "vol@example.nl")
    opened(app, "Loonstrook")
    smtp.replies["weg@example.nl"] = "550 5.1.1 mailbox unknown"
    smtp.replies["vol@example.nl"] = "452 4.2.2 mailbox full"
    scheduler = scheduler_for(app, smtp)

    scheduler.run_due(OPENED + timedelta(minutes=5))
    assert scheduler.failures  # the temporary failure waits for its next try
    del smtp.replies["vol@example.nl"]
    scheduler.run_due(OPENED + timedelta(minutes=10))

    facts = {f["client_id"]: f for f in published(app)}
    assert facts["klant-1"]["type"] == "NotificationFailed"
    assert facts["klant-1"]["reason"] == "550 5.1.1 mailbox unknown"
    assert facts["klant-2"]["type"] == "NotificationSent"
    assert [str(m["To"]) for m in smtp.messages()] == ["Naam klant-2 <vol@example.nl>"]


def test_without_a_contact_for_seven_days_the_notification_fails_as_no_contact(
    app: Notifications, smtp: SmtpSink
) -> None:
    opened(app, "Loonstrook")
    scheduler = scheduler_for(app, smtp)
    moment = OPENED + timedelta(minutes=5)
    while moment < OPENED + timedelta(days=8):
        scheduler.run_due(moment)
        moment += timedelta(hours=1)

    [failed] = published(app)
    assert failed["type"] == "NotificationFailed" and failed["reason"] == "no_contact"
    assert failed["client_id"] is None
    assert smtp.messages() == []


def test_a_contact_arriving_late_still_gets_the_mail(app: Notifications, smtp: SmtpSink) -> None:
    opened(app, "Loonstrook")
    scheduler = scheduler_for(app, smtp)
    scheduler.run_due(OPENED + timedelta(minutes=5))
    contact(app, "klant-1", "jan@example.nl")
    scheduler.run_due(OPENED + timedelta(hours=2))

    assert [f["type"] for f in published(app)] == ["NotificationSent"]


def test_a_mail_in_quiet_time_waits_until_it_ends(app: Notifications, smtp: SmtpSink) -> None:
    quiet = Quiet("PT5M", QuietHours(time(21), time(8)), ("saturday", "sunday"))
    app.set_settings(SetNotificationSettings(OFFICE, quiet, by="admin:a"))
    contact(app, "klant-1", "jan@example.nl")
    friday_night = datetime(2026, 3, 27, 22, 0, tzinfo=AMSTERDAM)  # a weekend with the DST change
    opened(app, "Loonstrook", at=friday_night)
    scheduler = scheduler_for(app, smtp)

    assert scheduler.run_due(datetime(2026, 3, 30, 7, 59, tzinfo=AMSTERDAM)) == 0
    assert scheduler.run_due(datetime(2026, 3, 30, 8, 0, tzinfo=AMSTERDAM)) == 1
    assert len(smtp.messages()) == 1


def test_a_point_opened_after_the_mail_went_out_goes_in_the_next_one(
    app: Notifications, smtp: SmtpSink
) -> None:
    contact(app, "klant-1", "jan@example.nl")
    opened(app, "Loonstrook")
    scheduler = scheduler_for(app, smtp)
    scheduler.run_due(OPENED + timedelta(minutes=5))
    # Late news of the same window (a consumer that was behind) is not lost.
    opened(app, "Jaaropgave", at=OPENED + timedelta(minutes=1))
    scheduler.run_due(OPENED + timedelta(minutes=20))

    assert [text_of(m)[0].count("Jaaropgave") for m in smtp.messages()] == [0, 1]


def test_a_redelivery_mail_names_the_document_but_never_the_reason(
    app: Notifications, smtp: SmtpSink
) -> None:
    contact(app, "klant-1", "jan@example.nl", "informal")
    point = opened(app, "Identiteitsbewijs")
    scheduler = scheduler_for(app, smtp)
    scheduler.run_due(OPENED + timedelta(minutes=5))
    # The consumer passes no reason on (kafka.Handlers.reopened): only the point's id.
    later = OPENED + timedelta(hours=1)
    app.note(Note(OFFICE, DOSSIER, Kind.REDELIVER, (Item(point, "", None),), later), later, None)
    scheduler.run_due(later + timedelta(minutes=5))

    redeliver = smtp.messages()[-1]
    assert redeliver["Subject"] == "Wil je een document opnieuw aanleveren?"
    assert "Identiteitsbewijs" in text_of(redeliver)[0]


def test_the_smtp_adapter_calls_a_closed_port_a_temporary_failure() -> None:
    from devtools.mail import free_port

    mailer = SmtpMailer(SmtpSettings(port=free_port(), timeout=2))
    with pytest.raises(TemporaryFailure):
        mailer.send(EmailMessage())


def test_news_recorded_twice_is_one_item_and_tracked_once(app: Notifications) -> None:
    point = str(uuid4())
    note = Note(OFFICE, DOSSIER, Kind.NEW_ACTION_POINTS, (Item(point, "Loonstrook"),), OPENED)
    first = app.note(note, OPENED, Tracking("t:0", 1))
    again = app.note(note, OPENED, Tracking("t:0", 2))
    assert first is not None and again is not None
    assert first.id == again.id and again.action_point_ids == [point]


def test_a_consumed_batch_makes_the_same_digest_in_one_transaction(
    app: Notifications, smtp: SmtpSink
) -> None:
    # The consumer's batch: a contact and two points of one window (the first delivered
    # twice), applied together; a new digest made early in the batch takes the later points.
    def opening(point: str, title: str, at: datetime) -> Change:
        due = datetime(2026, 3, 18, 22, 59, 59, tzinfo=UTC)
        note = Note(OFFICE, DOSSIER, Kind.NEW_ACTION_POINTS, (Item(point, title, due),), at)
        return lambda unit: app.note_in(unit, note, at)

    contact_of_jan = ChangeContact(OFFICE, DOSSIER, "klant-1", "jan@example.nl", "Jan", "formal")
    first, second = str(uuid4()), str(uuid4())
    before = app.recorder.max_notification_id() or 0
    app.apply(
        [
            lambda unit: app.change_contact_in(unit, contact_of_jan),
            opening(first, "Identiteitsbewijs", OPENED),
            opening(first, "Identiteitsbewijs", OPENED),
            opening(second, "Loonstrook", OPENED + timedelta(minutes=1)),
        ],
        Tracking("actiepunten.dossiercontrole.v1:0", 4),
    )
    # One transaction: the dossier and the digest, each with all the batch's events.
    assert app.recorder.max_tracking_id("actiepunten.dossiercontrole.v1:0") == 4
    assert (app.recorder.max_notification_id() or 0) > before
    assert scheduler_for(app, smtp).run_due(OPENED + timedelta(minutes=5)) == 1
    [mail] = smtp.messages()
    text, _ = text_of(mail)
    assert text.count("Identiteitsbewijs") == 1 and "Loonstrook" in text


def test_a_closed_dossier_is_mailed_nothing_and_an_erased_one_forgets_its_contacts(
    app: Notifications, smtp: SmtpSink
) -> None:
    from services.notification_service.kafka import handlers
    from shared.events import contracts as c
    from shared.events.codec import new_event

    contact(app, "klant-1", "jan@example.nl")
    opened(app, "Identiteitsbewijs")
    on = handlers(app, lambda: OPENED)

    def receive(kind: type[c.CloudEvent], data: dict[str, object], position: int) -> None:
        event = new_event(kind, {"dossier_id": DOSSIER, **data}, source="t", tenant=OFFICE)
        on[event.type](event.model_copy(update={"dossierid": DOSSIER}), Tracking("t:0", position))

    # The adviser closes the dossier before the window ends: the waiting mail is not sent.
    closing = {"outcome": "withdrawn", "closed_by": "adviser:a1", "closed_at": OPENED}
    receive(c.DossierClosed, closing, 1)
    assert scheduler_for(app, smtp).run_due(OPENED + timedelta(minutes=6)) == 1
    assert smtp.messages() == [] and published(app) == []

    # Erased: its contacts and items are forgotten.
    receive(c.DossierErased, {"erased_by": "admin:b", "erased_at": OPENED}, 2)
    dossier, _ = app.contacts_and_items(app.get_digest(_any_digest(app)))
    assert dossier == []


def _any_digest(app: Notifications) -> UUID:
    for notification in app.recorder.select_notifications(0, 1000):
        if ":Digest." in notification.topic:
            return notification.originator_id  # type: ignore[return-value]
    raise AssertionError("no digest")
