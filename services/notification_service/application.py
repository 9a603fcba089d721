"""The notification service's commands and queries (``Notifications``).

The consumer records what to tell (``change_contact``, ``note``, ``close_item``); the scheduler
carries it out through a ``Mailer`` (``services/notification_service/scheduler.py``) and records
each outcome here (``close_digest``, ``record_sent``, ``record_failed``, ``finish``), each a save
of its own so that a crash between two contacts resends neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from servicekit.eventstore import TrackedApplication, retried_on_conflict
from services.notification_service.domainmodel import (
    NO_CONTACT_AFTER,
    Digest,
    Dossier,
    Item,
    Kind,
    NotificationSettings,
    Quiet,
)

MAX_POSTPONEMENT = timedelta(hours=1)


@dataclass(frozen=True)
class ChangeContact:
    tenant: str
    dossier_id: str
    client_id: str
    email: str
    name: str
    salutation: str


@dataclass(frozen=True)
class Note:
    """News for a dossier's contacts: ``items`` to tell of (``kind``) at ``at``; ``open_items``,
    when given, are the dossier's open action points at that moment (a reminder's)."""

    tenant: str
    dossier_id: str
    kind: Kind
    items: tuple[Item, ...]
    at: datetime
    open_items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class SetNotificationSettings:
    tenant: str
    quiet: Quiet
    by: str


class Unit:
    """What one transaction loaded and changed: each dossier and digest once, saved together (a
    consumed batch of records, or one record). A digest made earlier in the batch is found here
    before it is in the store."""

    def __init__(self, app: Notifications) -> None:
        self.app = app
        self.dossiers: dict[tuple[str, str], Dossier] = {}
        self.digests: dict[UUID, Digest] = {}
        self.quiet: dict[str, Quiet] = {}

    def quiet_of(self, tenant: str) -> Quiet:
        """The office's digest window and quiet time, read once a unit (a consumed batch read
        them once for every action point)."""
        if tenant not in self.quiet:
            self.quiet[tenant] = self.app.get_settings(tenant)
        return self.quiet[tenant]

    def dossier(self, tenant: str, dossier_id: str) -> Dossier:
        key = (tenant, dossier_id)
        if key not in self.dossiers:
            self.dossiers[key] = self.app._dossier(tenant, dossier_id)
        return self.dossiers[key]

    def digest(self, digest_id: UUID) -> Digest | None:
        if digest_id not in self.digests:
            found = self.app._get_digest(digest_id)
            if found is None:
                return None
            self.digests[digest_id] = found
        return self.digests[digest_id]

    def add(self, digest: Digest) -> Digest:
        self.digests[digest.id] = digest
        return digest

    def aggregates(self) -> list[Any]:
        return [*self.dossiers.values(), *self.digests.values()]


Change = Callable[[Unit], object]
"""One consumed record's change, applied within a unit (``Notifications.apply``)."""


class Notifications(TrackedApplication):
    """The notification service's store: dossiers' contacts, digests, office settings."""

    def _dossier(self, tenant: str, dossier_id: str) -> Dossier:
        dossier: Dossier = self.office_aggregate(Dossier, tenant, dossier_id=dossier_id)
        return dossier

    def get_settings(self, tenant: str) -> Quiet:
        settings: NotificationSettings = self.office_aggregate(NotificationSettings, tenant)
        return settings.quiet

    @retried_on_conflict()
    def set_settings(self, command: SetNotificationSettings) -> Quiet:
        settings: NotificationSettings = self.office_aggregate(NotificationSettings, command.tenant)
        settings.change(command.quiet, command.by)
        self.save(settings)
        return settings.quiet

    @retried_on_conflict()
    def apply(self, changes: Sequence[Change], tracking: Tracking | None) -> list[object]:
        """Apply consumed records' changes in order and store them with ``tracking`` in one
        transaction (a batch: each aggregate loaded and saved once); their results."""
        unit = Unit(self)
        done = [change(unit) for change in changes]
        self.save_tracked(tracking, *unit.aggregates())
        return done

    def change_contact(self, command: ChangeContact, tracking: Tracking | None) -> None:
        self.apply([lambda unit: self.change_contact_in(unit, command)], tracking)

    def close_item(
        self, tenant: str, dossier_id: str, action_point_id: str, tracking: Tracking | None
    ) -> None:
        self.apply(
            [lambda unit: self.close_item_in(unit, tenant, dossier_id, action_point_id)], tracking
        )

    def note(self, command: Note, now: datetime, tracking: Tracking | None) -> Digest | None:
        """Record the news in the dossier and in its digest (None: too old to mail)."""
        [digest] = self.apply([lambda unit: self.note_in(unit, command, now)], tracking)
        return digest if isinstance(digest, Digest) else None

    @staticmethod
    def change_contact_in(unit: Unit, command: ChangeContact) -> None:
        dossier = unit.dossier(command.tenant, command.dossier_id)
        dossier.change_contact(command.client_id, command.email, command.name, command.salutation)

    @staticmethod
    def close_item_in(unit: Unit, tenant: str, dossier_id: str, action_point_id: str) -> None:
        unit.dossier(tenant, dossier_id).close_item(action_point_id)

    def note_in(self, unit: Unit, command: Note, now: datetime) -> Digest | None:
        dossier = unit.dossier(command.tenant, command.dossier_id)
        items = [dossier.named(item) for item in command.items]
        for item in (*command.open_items, *items):
            dossier.open_item(item.action_point_id, item.title, item.due_at)
        if now - command.at > NO_CONTACT_AFTER:
            return None
        digest = self._open_digest(unit, command, now)
        for item in items:
            digest.add(item.action_point_id, item.title, item.due_at)
        return digest

    def _open_digest(self, unit: Unit, command: Note, now: datetime) -> Digest:
        """The digest that takes ``command``'s items: its window's, or the first of the chain
        after it that is not closed (or that holds them already: a cause delivered again)."""
        quiet = unit.quiet_of(command.tenant)
        start = quiet.window_start(command.at)
        follow_up = 0
        while True:
            digest_id = Digest.create_id(
                command.tenant, command.dossier_id, command.kind, start, follow_up
            )
            digest = unit.digest(digest_id)
            if digest is None:
                ends = start + quiet.window if not follow_up else now + quiet.window
                made = Digest(
                    command.tenant,
                    command.dossier_id,
                    command.kind,
                    start,
                    follow_up,
                    quiet.send_moment(ends),
                )
                return unit.add(made)
            if not digest.closed or all(i.action_point_id in digest.items for i in command.items):
                return digest
            follow_up += 1

    def _get_digest(self, digest_id: UUID) -> Digest | None:
        try:
            digest: Digest = self.repository.get(digest_id)
        except AggregateNotFoundError:
            return None  # one read, not an existence check and then a load
        return digest

    def get_digest(self, digest_id: UUID) -> Digest:
        digest: Digest = self.repository.get(digest_id)
        return digest

    def contacts_and_items(self, digest: Digest) -> tuple[list[Any], list[Item]]:
        """The dossier's contacts and open action points now (for the digest's mails)."""
        dossier = self._dossier(digest.tenant, digest.dossier_id)
        return list(dossier.contacts.values()), list(dossier.open_items.values())

    def dossier_closed(self, digest: Digest) -> bool:
        """Whether the digest's dossier was closed: its mail is not sent (SPEC section 11)."""
        return self._dossier(digest.tenant, digest.dossier_id).closed

    def close_digest(self, digest_id: UUID) -> Digest | None:
        """The digest, closed to further news (saved once); None when it is finished."""
        digest = self.get_digest(digest_id)
        if digest.finished:
            return None
        if not digest.closed:
            digest.close()
            self.save(digest)
        return digest

    def wait_for_contact(self, digest: Digest, now: datetime) -> None:
        """No contact yet: look again later (sooner at first), or fail ``no_contact`` once
        ``NO_CONTACT_AFTER`` has passed since its window began."""
        deadline = digest.window_start + NO_CONTACT_AFTER
        if now >= deadline:
            digest.record_failed(None, digest.notification_id(None), "no_contact")
            digest.finish()
        else:
            pause = min(timedelta(minutes=1) * 2 ** min(digest.postponements, 10), MAX_POSTPONEMENT)
            digest.postpone(min(now + pause, deadline))
        self.save(digest)

    def record_sent(self, digest: Digest, client_id: str, message_id: str) -> None:
        digest.record_sent(client_id, digest.notification_id(client_id), message_id)
        self.save(digest)

    def record_failed(self, digest: Digest, client_id: str, reason: str) -> None:
        digest.record_failed(client_id, digest.notification_id(client_id), reason)
        self.save(digest)

    def finish(self, digest: Digest) -> None:
        digest.finish()
        self.save(digest)
