"""Sends each digest's mails when its window (moved out of quiet time) ends, in any number of
replicas, on ``servicekit.scheduler``.

The timetable reads a digest's moment from its ``Opened`` (or ``Postponed``: no contact yet)
and drops it at ``Finished``. The action closes the digest to further news, then for each
contact not yet handled sends its mail with ``Message-ID`` derived from the notification's id,
and records ``NotificationSent`` after the server accepted it (``NotificationFailed`` with the
reply when it refused for good). A crash in between sends that mail again, with the same
``Message-ID``; a temporary failure raises, and the scheduler tries again after a pause that
doubles up to ``MAX_BACKOFF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prometheus_client import Counter, Gauge

from servicekit import scheduler
from servicekit.eventstore import traceparent_of
from services.notification_service.application import Notifications
from services.notification_service.domainmodel import Digest, message_id
from services.notification_service.mailer import Mail, Mailer, PermanentRefusal, compose

MAX_BACKOFF = timedelta(minutes=5)

DIGESTS_WAITING = Gauge("actiepunten_digests_waiting", "Digests waiting for their moment")
DIGESTS_SENT = Counter("actiepunten_digests_done", "Digests whose mails this process sent")
MAILS_SENT = Counter("actiepunten_mails_sent", "Mails the SMTP server accepted")
MAILS_FAILED = Counter("actiepunten_mails_failed", "Notifications failed for good", ["reason"])


def digest_moment(event: Any) -> scheduler.Due | scheduler.Gone | None:
    """What a stored event of a digest means for the timetable."""
    name = type(event).__qualname__
    if name == "Digest.Opened":
        return scheduler.Due(event.originator_id, event.send_at, traceparent_of(event))
    if name == "Digest.Postponed":
        return scheduler.Due(event.originator_id, event.until, traceparent_of(event))
    if name == "Digest.Finished":
        return scheduler.Gone(event.originator_id)
    return None


@dataclass(frozen=True)
class Outgoing:
    """Where mails go out from: the sender's address and the portal they link to."""

    sender: str
    portal_url: str


class DigestScheduler(scheduler.Scheduler):
    """The digests' scheduler: the generic one over the digests' timetable."""

    def __init__(
        self, app: Notifications, mailer: Mailer, outgoing: Outgoing, *, tick: float = 0.2
    ) -> None:
        self.app = app
        self.mailer = mailer
        self.outgoing = outgoing
        self.digests = scheduler.LoggedTimetable(app, digest_moment, topic_part=":Digest.")
        super().__init__(
            self.digests,
            self._send,
            span="send notification",
            tick=tick,
            max_backoff=MAX_BACKOFF,
            done=DIGESTS_SENT,
            waiting=DIGESTS_WAITING,
        )

    def _send(self, due: scheduler.Due, now: datetime) -> bool:
        digest = self.app.close_digest(cast(UUID, due.key))
        if digest is None:
            return False
        if self.app.dossier_closed(digest):
            self.app.finish(digest)  # a closed dossier's client is told nothing more
            return True
        contacts, open_items = self.app.contacts_and_items(digest)
        if not contacts and not digest.handled:
            self.app.wait_for_contact(digest, now)
            if digest.finished:
                MAILS_FAILED.labels("no_contact").inc()
            return True
        for contact in contacts:
            if contact.client_id not in digest.handled:
                self._send_to(digest, contact, open_items)
        self.app.finish(digest)
        return True

    def _send_to(self, digest: Digest, contact: Any, open_items: list[Any]) -> None:
        mail = Mail(
            to=contact,
            kind=digest.kind,
            items=list(digest.items.values()),
            open_items=open_items,
            tenant=digest.tenant,
            dossier_id=digest.dossier_id,
            message_id=message_id(digest.notification_id(contact.client_id)),
            sender=self.outgoing.sender,
            portal_url=self.outgoing.portal_url,
        )
        try:
            self.mailer.send(compose(mail))
        except PermanentRefusal as refusal:
            self.app.record_failed(digest, contact.client_id, refusal.reply)
            MAILS_FAILED.labels("refused").inc()
            return
        self.app.record_sent(digest, contact.client_id, mail.message_id)
        MAILS_SENT.inc()
