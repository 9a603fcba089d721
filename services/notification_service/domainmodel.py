"""What the notification service decides and records before anything is mailed.

- ``Dossier``: one dossier's contacts (the client and partners, from the platform's
  ``ClientContactChanged``) and its open action points as the dossier check announced them.
- ``Digest``: what to tell a dossier's contacts about one kind of news (new action points,
  reminders, deliver again) in one window; its id derives from office, dossier, kind and window,
  so a cause delivered twice adds nothing. Closed when its mail goes out; a cause arriving later
  goes to the next digest of the chain (``follow_up``). Each contact's mail is a notification
  whose id derives from the digest's and the contact's (``notification_id``), and its
  ``Message-ID`` from that: a mail sent again after a crash carries the same one.
- ``NotificationSettings``: an office's digest window and quiet time; ``send_moment`` moves a
  moment out of quiet time (Europe/Amsterdam).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal, get_args
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from servicekit.domain import Conflict, office_name
from shared.events.durations import Duration

NAMESPACE = uuid5(NAMESPACE_URL, "actiepunten/notification_service")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NO_CONTACT_AFTER = timedelta(days=7)
"""A digest whose dossier has no contact this long after its window began fails ``no_contact``;
a cause older than this is not mailed at all (a fresh store reading the topic's history)."""

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # in the order of ``date.weekday()``


class Kind(StrEnum):
    """What a mail tells (the contracts' ``NotificationKind``)."""

    NEW_ACTION_POINTS = "new_action_points"
    REMINDER = "reminder"
    REDELIVER = "redeliver"


class Salutation(StrEnum):
    FORMAL = "formal"  # "u"
    INFORMAL = "informal"  # "je"/"jij"


@dataclass(frozen=True)
class Contact:
    client_id: str
    email: str
    name: str
    salutation: Salutation


@dataclass(frozen=True)
class Item:
    """An action point as a mail names it: its title and due date."""

    action_point_id: str
    title: str
    due_at: datetime | None = None


def message_id(notification_id: UUID) -> str:
    """The ``Message-ID`` of a notification's mail: the same for every attempt."""
    return f"<{notification_id}@actiepunten>"


class Dossier(Aggregate):
    """A dossier's contacts and open action points (what every mail needs to say)."""

    closed: bool = False  # closed by the adviser (SPEC section 11): nothing is mailed

    class Opened(Aggregate.Created):
        tenant: str
        dossier_id: str

    @staticmethod
    def create_id(tenant: str, dossier_id: str) -> UUID:
        return uuid5(NAMESPACE, office_name("dossier", tenant, dossier_id))

    @event(Opened)
    def __init__(self, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.contacts: dict[str, Contact] = {}
        self.open_items: dict[str, Item] = {}
        self.titles: dict[str, str] = {}  # of every action point seen, open or not

    def change_contact(self, client_id: str, email: str, name: str, salutation: str) -> None:
        contact = Contact(client_id, email, name, Salutation(salutation))
        if self.contacts.get(client_id) != contact:
            self._contact_changed(client_id, email, name, salutation)

    @event("ContactChanged")
    def _contact_changed(self, client_id: str, email: str, name: str, salutation: str) -> None:
        self.contacts[client_id] = Contact(client_id, email, name, Salutation(salutation))

    def open_item(self, action_point_id: str, title: str, due_at: datetime | None) -> None:
        if self.open_items.get(action_point_id) != Item(action_point_id, title, due_at):
            self._item_opened(action_point_id, title, due_at)

    @event("ItemOpened")
    def _item_opened(self, action_point_id: str, title: str, due_at: datetime | None) -> None:
        self.open_items[action_point_id] = Item(action_point_id, title, due_at)
        self.titles[action_point_id] = title

    def named(self, item: Item) -> Item:
        """``item`` with its title as the dossier knows it when it came without one."""
        if item.title:
            return item
        return Item(item.action_point_id, self.titles.get(item.action_point_id, ""), item.due_at)

    def close_item(self, action_point_id: str) -> None:
        if action_point_id in self.open_items:
            self._item_closed(action_point_id)

    @event("ItemClosed")
    def _item_closed(self, action_point_id: str) -> None:
        del self.open_items[action_point_id]

    def mark_closed(self, closed: bool) -> None:
        """The dossier was closed (or reopened): mails waiting for it are not sent."""
        if self.closed != closed:
            self._closing_noted(closed)

    @event("ClosingNoted")
    def _closing_noted(self, closed: bool) -> None:
        self.closed = closed

    def forget(self) -> None:
        """The dossier was erased (SPEC section 11): its contacts and items are forgotten, and
        nothing is mailed for it again."""
        if self.contacts or self.open_items or self.titles or not self.closed:
            self._forgotten()

    @event("Forgotten")
    def _forgotten(self) -> None:
        self.contacts = {}
        self.open_items = {}
        self.titles = {}
        self.closed = True


class DigestClosed(Conflict):
    """The digest's mail is going out: what arrives now goes to the next digest."""


class Digest(Aggregate):
    """One kind of news for one dossier's contacts in one window (see the module)."""

    class Opened(Aggregate.Created):
        tenant: str
        dossier_id: str
        kind: str
        window_start: datetime
        follow_up: int
        send_at: datetime

    @staticmethod
    def create_id(
        tenant: str, dossier_id: str, kind: str, window_start: datetime, follow_up: int = 0
    ) -> UUID:
        window = f"{window_start.astimezone(UTC).isoformat()}+{follow_up}"
        return uuid5(NAMESPACE, office_name("digest", tenant, kind, window, dossier_id))

    @event(Opened)
    def __init__(
        self,
        tenant: str,
        dossier_id: str,
        kind: str,
        window_start: datetime,
        follow_up: int,
        send_at: datetime,
    ) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.kind = Kind(kind)
        self.window_start = window_start
        self.follow_up = follow_up
        self.send_at = send_at
        self.items: dict[str, Item] = {}
        self.closed = False
        self.finished = False
        self.handled: dict[str, UUID] = {}  # client id -> its notification, sent or failed
        self.postponements = 0

    @property
    def action_point_ids(self) -> list[str]:
        return list(self.items)

    def next_id(self) -> UUID:
        """The id of the digest that takes what arrives after this one closed."""
        return Digest.create_id(
            self.tenant, self.dossier_id, self.kind, self.window_start, self.follow_up + 1
        )

    def notification_id(self, client_id: str | None) -> UUID:
        return uuid5(self.id, client_id or "no_contact")

    def add(self, action_point_id: str, title: str, due_at: datetime | None) -> None:
        if action_point_id in self.items:
            return
        if self.closed:
            raise DigestClosed(f"digest {self.id} is closed")
        self._item_added(action_point_id, title, due_at)

    @event("ItemAdded")
    def _item_added(self, action_point_id: str, title: str, due_at: datetime | None) -> None:
        self.items[action_point_id] = Item(action_point_id, title, due_at)

    @event("Closed")
    def close(self) -> None:
        self.closed = True

    @event("Postponed")
    def postpone(self, until: datetime) -> None:
        """No contact yet: look again at ``until``."""
        self.postponements += 1

    def record_sent(self, client_id: str, notification_id: UUID, message_id: str) -> None:
        self._sent(client_id, notification_id, message_id)

    @event("NotificationSent")
    def _sent(self, client_id: str, notification_id: UUID, message_id: str) -> None:
        self.handled[client_id] = notification_id

    @event("NotificationFailed")
    def record_failed(self, client_id: str | None, notification_id: UUID, reason: str) -> None:
        self.handled[client_id or ""] = notification_id

    @event("Finished")
    def finish(self) -> None:
        self.finished = True


@dataclass(frozen=True)
class QuietHours:
    start: time  # "from"
    until: time

    def holds(self, moment: time) -> bool:
        if self.start <= self.until:
            return self.start <= moment < self.until
        return moment >= self.start or moment < self.until  # over midnight


@dataclass(frozen=True)
class Quiet:
    """An office's digest window and quiet time, as its admin set them."""

    digest_window: str = "PT5M"
    quiet_hours: QuietHours | None = None
    quiet_days: tuple[str, ...] = ()

    @property
    def window(self) -> timedelta:
        return Duration.parse(self.digest_window).span

    def window_start(self, moment: datetime) -> datetime:
        """The start of the window ``moment`` falls in (windows counted from the epoch)."""
        seconds = max(int(self.window.total_seconds()), 1)
        epoch = int(moment.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, UTC)

    def send_moment(self, moment: datetime) -> datetime:
        """``moment``, or the end of the quiet time it falls in (days and hours, Amsterdam)."""
        local = moment.astimezone(AMSTERDAM)
        for _ in range(16):  # at most a week of quiet days and a night of quiet hours
            later = self._quiet_until(local)
            if later is None:
                return local.astimezone(UTC)
            local = later
        return local.astimezone(UTC)

    def _quiet_until(self, local: datetime) -> datetime | None:
        if WEEKDAYS[local.weekday()] in self.quiet_days:
            return _local(local.date() + timedelta(days=1), time(0))
        hours = self.quiet_hours
        if hours is None or not hours.holds(local.time().replace(tzinfo=None)):
            return None
        day = local.date()
        if local.time().replace(tzinfo=None) >= hours.until:
            day += timedelta(days=1)
        return _local(day, hours.until)

    def as_dict(self) -> dict[str, Any]:
        hours = self.quiet_hours
        return {
            "digest_window": self.digest_window,
            "quiet_hours": (
                None
                if hours is None
                else {"from": hours.start.strftime("%H:%M"), "until": hours.until.strftime("%H:%M")}
            ),
            "quiet_days": list(self.quiet_days),
        }


def _local(day: Any, at: time) -> datetime:
    """``at`` on ``day`` in Amsterdam; a time the spring change skips is the moment after it."""
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=AMSTERDAM).astimezone(UTC).astimezone(AMSTERDAM)


class NotificationSettings(Aggregate):
    """An office's notification settings (``Quiet``), replaced whole by its admin."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NAMESPACE, office_name("notification-settings", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.quiet = Quiet()

    def change(self, quiet: Quiet, by: str) -> None:
        if quiet != self.quiet:
            self._changed(quiet.as_dict(), by)

    @event("Changed")
    def _changed(self, settings: dict[str, Any], by: str) -> None:
        self.quiet = quiet_of(settings)


def quiet_of(settings: dict[str, Any]) -> Quiet:
    """A ``Quiet`` from its ``as_dict`` form (the API's body)."""
    hours = settings.get("quiet_hours")
    return Quiet(
        settings["digest_window"],
        None
        if hours is None
        else QuietHours(time.fromisoformat(hours["from"]), time.fromisoformat(hours["until"])),
        tuple(settings.get("quiet_days") or ()),
    )
