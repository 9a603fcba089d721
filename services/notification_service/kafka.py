"""What the notification service consumes and publishes on Kafka.

Consumes the dossier check's action points (``actiepunten.dossiercontrole.v1``: what to tell)
and the platform's contacts (``platform.clients.v1``: whom); publishes ``NotificationSent`` and
``NotificationFailed`` on ``actiepunten.notifications.v1`` (``OUTBOX``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import Handler, Rejected
from servicekit.outbox import Fact, Origin, OutboxMappings
from services.notification_service.application import ChangeContact, Note, Notifications
from services.notification_service.domainmodel import Item, Kind
from shared.events import contracts as c
from shared.events import topics

SOURCE = "actiepunten/notification_service"
PUBLISHES = topics.NOTIFICATIONS
CONSUMES = (topics.DOSSIERCONTROLE, topics.CLIENTS)
DLQ = topics.NOTIFICATIONS_DLQ


def declare(broker: KafkaBroker) -> None:
    """Declare what the service publishes, for the generated AsyncAPI document."""
    broker.publisher(
        PUBLISHES,
        title=PUBLISHES,
        description="Mails to clients: sent (accepted by the SMTP server) or failed for good",
        schema=c.NotificationsTopicEvent,
    )
    broker.publisher(
        DLQ, title=DLQ, description="Records the notification service could not accept"
    )


OUTBOX = OutboxMappings(SOURCE, subject=lambda _, fact: str(fact.data["notification_id"]))
"""What each stored domain event publishes on ``PUBLISHES``: only the outcomes of mails."""

OUTBOX.silent(
    "Dossier.Opened",
    "Dossier.ContactChanged",
    "Dossier.ItemOpened",
    "Dossier.ItemClosed",
    "Digest.Opened",
    "Digest.ItemAdded",
    "Digest.Closed",
    "Digest.Postponed",
    "Digest.Finished",
    "NotificationSettings.Opened",
    "NotificationSettings.Changed",
)


def _notification(event: Any, origin: Origin) -> dict[str, Any]:
    digest = origin.state
    return {
        "notification_id": event.notification_id,
        "dossier_id": origin.dossier_id,
        "client_id": event.client_id,
        "kind": str(digest.kind),
        "action_point_ids": digest.action_point_ids,
    }


@OUTBOX.on("Digest.NotificationSent")
def _sent(event: Any, origin: Origin) -> Fact:
    return Fact(
        c.NotificationSent, {**_notification(event, origin), "message_id": event.message_id}
    )


@OUTBOX.on("Digest.NotificationFailed")
def _failed(event: Any, origin: Origin) -> Fact:
    return Fact(c.NotificationFailed, {**_notification(event, origin), "reason": event.reason})


def _dossier(event: c.CloudEvent) -> str:
    dossier_id: str = event.data.dossier_id
    if event.dossierid != dossier_id:
        raise Rejected(f"dossierid {event.dossierid!r} is not the data's dossier {dossier_id!r}")
    return dossier_id


class Handlers:
    """Inbound events -> application commands, each saved with its tracking record."""

    def __init__(self, app: Notifications, now: Callable[[], datetime]) -> None:
        self.app = app
        self.now = now

    def contact(self, event: c.CloudEvent, tracking: Tracking) -> None:
        data = event.data
        command = ChangeContact(
            event.tenantid, _dossier(event), data.client_id, data.email, data.name, data.salutation
        )
        self.app.change_contact(command, tracking)

    def _note(self, event: c.CloudEvent, kind: Kind, at: datetime, **more: Any) -> Note:
        data = event.data
        item = Item(str(data.action_point_id), getattr(data, "title", ""), data.due_at)
        return Note(event.tenantid, _dossier(event), kind, (item,), at, **more)

    def opened(self, event: c.CloudEvent, tracking: Tracking) -> None:
        note = self._note(event, Kind.NEW_ACTION_POINTS, event.data.opened_at)
        self.app.note(note, self.now(), tracking)

    def reopened(self, event: c.CloudEvent, tracking: Tracking) -> None:
        # The rejection's reason stays on the portal: a mail never carries it.
        note = self._note(event, Kind.REDELIVER, event.data.reopened_at)
        self.app.note(note, self.now(), tracking)

    def reminder(self, event: c.CloudEvent, tracking: Tracking) -> None:
        open_items = tuple(
            Item(str(item.action_point_id), item.title, item.due_at)
            for item in event.data.open_items
        )
        at = event.time or self.now()
        note = self._note(event, Kind.REMINDER, at, open_items=open_items)
        self.app.note(note, self.now(), tracking)

    def closed(self, event: c.CloudEvent, tracking: Tracking) -> None:
        self.app.close_item(
            event.tenantid, _dossier(event), str(event.data.action_point_id), tracking
        )


def handlers(
    app: Notifications, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Handler]:
    """The handler of each consumed event type (``Handlers``); others are skipped."""
    on = Handlers(app, now)
    return {
        "ClientContactChanged": on.contact,
        "ActionPointOpened": on.opened,
        "ActionPointReopened": on.reopened,
        "ActionPointReminderDue": on.reminder,
        "ActionPointCompleted": on.closed,
        "ActionPointRemoved": on.closed,
    }
