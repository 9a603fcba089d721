"""What the notification service consumes and publishes on Kafka.

Consumes the dossier check's action points (``actiepunten.dossiercontrole.v1``: what to tell)
and the platform's contacts (``platform.clients.v1``: whom); publishes ``NotificationSent`` and
``NotificationFailed`` on ``actiepunten.notifications.v1`` (``OUTBOX``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import BatchHandler, Handler, Rejected
from servicekit.outbox import Fact, Origin, OutboxMappings
from services.notification_service.application import Change, ChangeContact, Note, Notifications
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
    "Dossier.ClosingNoted",
    "Dossier.Forgotten",
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
    """Inbound events -> the changes they make (``Change``), saved with their tracking record:
    one record at a time, or a consumed batch in one transaction (``batch_handler``)."""

    def __init__(self, app: Notifications, now: Callable[[], datetime]) -> None:
        self.app = app
        self.now = now

    def change_for(self, event: c.CloudEvent) -> Change:
        """What ``event`` changes (the consumer hands over only the types ``handlers`` name)."""
        return {
            "ClientContactChanged": self._contact,
            "ActionPointOpened": self._opened,
            "ActionPointReopened": self._reopened,
            "ActionPointReminderDue": self._reminder,
            "ActionPointCompleted": self._closed,
            "ActionPointRemoved": self._closed,
            "DossierClosed": self._dossier_closing(closed=True),
            "DossierReopened": self._dossier_closing(closed=False),
            "DossierErased": self._erased,
        }[event.type](event)

    def handle(self, event: c.CloudEvent, tracking: Tracking) -> None:
        self.app.apply([self.change_for(event)], tracking)

    def handle_batch(self, events: Sequence[c.CloudEvent], tracking: Tracking) -> None:
        self.app.apply([self.change_for(event) for event in events], tracking)

    def _contact(self, event: c.CloudEvent) -> Change:
        data = event.data
        command = ChangeContact(
            event.tenantid, _dossier(event), data.client_id, data.email, data.name, data.salutation
        )
        return lambda unit: self.app.change_contact_in(unit, command)

    def _note(self, event: c.CloudEvent, kind: Kind, at: datetime, **more: Any) -> Change:
        data = event.data
        item = Item(str(data.action_point_id), getattr(data, "title", ""), data.due_at)
        note = Note(event.tenantid, _dossier(event), kind, (item,), at, **more)
        now = self.now()
        return lambda unit: self.app.note_in(unit, note, now)

    def _opened(self, event: c.CloudEvent) -> Change:
        return self._note(event, Kind.NEW_ACTION_POINTS, event.data.opened_at)

    def _reopened(self, event: c.CloudEvent) -> Change:
        # The rejection's reason stays on the portal: a mail never carries it.
        return self._note(event, Kind.REDELIVER, event.data.reopened_at)

    def _reminder(self, event: c.CloudEvent) -> Change:
        open_items = tuple(
            Item(str(item.action_point_id), item.title, item.due_at)
            for item in event.data.open_items
        )
        return self._note(event, Kind.REMINDER, event.time or self.now(), open_items=open_items)

    def _closed(self, event: c.CloudEvent) -> Change:
        tenant, dossier_id = event.tenantid, _dossier(event)
        action_point_id = str(event.data.action_point_id)
        return lambda unit: self.app.close_item_in(unit, tenant, dossier_id, action_point_id)

    def _erased(self, event: c.CloudEvent) -> Change:
        tenant, dossier_id = event.tenantid, _dossier(event)
        return lambda unit: unit.dossier(tenant, dossier_id).forget()

    @staticmethod
    def _dossier_closing(*, closed: bool) -> Callable[[c.CloudEvent], Change]:
        def change(event: c.CloudEvent) -> Change:
            tenant, dossier_id = event.tenantid, _dossier(event)
            return lambda unit: unit.dossier(tenant, dossier_id).mark_closed(closed)

        return change


HANDLED = (
    "ClientContactChanged",
    "ActionPointOpened",
    "ActionPointReopened",
    "ActionPointReminderDue",
    "ActionPointCompleted",
    "ActionPointRemoved",
    "DossierClosed",
    "DossierReopened",
    "DossierErased",
)


def handlers(
    app: Notifications, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Handler]:
    """The handler of each consumed event type (``Handlers``); others are skipped."""
    on = Handlers(app, now)
    return dict.fromkeys(HANDLED, on.handle)


def batch_handler(
    app: Notifications, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> BatchHandler:
    """A consumed batch in one transaction, each dossier and digest loaded and saved once. A
    record that fails the batch (a rejected one, a conflict) makes the consumer take the batch
    one record at a time, where the single handler dead-letters or retries it."""
    return Handlers(app, now).handle_batch
