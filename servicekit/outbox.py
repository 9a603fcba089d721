"""Transactional outbox: publish a service's integration events from its notification log.

The notification log is the outbox. Events are read only after they were committed, published,
and only when Kafka acknowledged every record of a batch does the relay record how far it got
(in the service's own store). A crash in between republishes that batch: at-least-once, with
deterministic event ids so that consumers recognise a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import IntegrityError, Notification, Tracking

from servicekit import metrics
from servicekit.eventstore import TrackedApplication
from shared.events.contracts import CloudEvent

log = logging.getLogger(__name__)

Translate = Callable[[Any], Sequence[CloudEvent]]
"""Maps one stored domain event to the integration events it publishes (often none)."""

PublishBatch = Callable[[str, Sequence[CloudEvent]], Awaitable[None]]
"""Sends events to a topic and returns once Kafka acknowledged all of them."""

Quarantine = Callable[[Notification, str], Awaitable[None]]
"""Reports a stored event that cannot be published (its translation fails), with the reason."""

_EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:actiepunten:integration-event")


def integration_event_id(domain_event: Any, index: int = 0) -> UUID:
    """A stable id for the ``index``-th integration event of a stored domain event.

    Republishing the same stored event gives the same id, so a consumer can tell a repeat.
    """
    return uuid5(
        _EVENT_ID_NAMESPACE,
        f"{domain_event.originator_id}:{domain_event.originator_version}:{index}",
    )


class OutboxRelay:
    """Follows one application's notification log and publishes what ``translate`` makes of it."""

    def __init__(
        self,
        app: TrackedApplication,
        topic: str,
        translate: Translate,
        publish: PublishBatch,
        *,
        quarantine: Quarantine | None = None,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        lease_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.lease_seconds = lease_seconds
        self._lease_period = -1
        self.quarantine = quarantine
        self.topic = topic
        self.translate = translate
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.tracking_name = f"outbox:{topic}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        app.add_save_listener(self.wake)

    def wake(self) -> None:
        """Called from any thread after a commit: publish now rather than on the next poll."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def position(self) -> int:
        return self.app.max_tracking_id(self.tracking_name) or 0

    def backlog(self) -> int:
        head = self.app.recorder.max_notification_id() or 0
        return max(0, head - self.position())

    async def run(self) -> None:
        """Relay until cancelled; a failed publish is retried with backoff, never skipped."""
        self._loop = asyncio.get_running_loop()
        backoff = 0.2
        while True:
            try:
                published = await self.relay_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay for %s failed; retrying in %.1fs", self.topic, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if published == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _holds_lease(self) -> bool:
        """With replicas sharing a store, one relay publishes in each period of
        ``lease_seconds``: whoever records the period first in the store holds it. Without the
        lease every replica would publish every batch (harmless, same ids, but doubled)."""
        if self.lease_seconds is None:
            return True
        period = int(time.time() // self.lease_seconds)
        if period == self._lease_period:
            return True
        try:
            self.app.process_recorder.insert_tracking(
                Tracking(f"lease:{self.tracking_name}", period)
            )
        except IntegrityError:
            return False  # another replica holds this period
        self._lease_period = period
        return True

    async def relay_once(self) -> int:
        """Publish the next batch of notifications; returns how many notifications it covered."""
        if not await asyncio.to_thread(self._holds_lease):
            return 0
        start = await asyncio.to_thread(self.position)
        notifications: Sequence[Notification] = await asyncio.to_thread(
            self.app.recorder.select_notifications, start, self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            metrics.RELAY_BACKLOG.labels(self.topic).set(0)
            return 0
        events: list[CloudEvent] = []
        for notification in notifications:
            domain_event = self.app.mapper.to_domain_event(notification)
            try:
                events.extend(self.translate(domain_event))
            except ValueError as error:
                # A stored fact that no contract can carry would stop this relay for every
                # office, forever. Report it where operations look, then go on.
                if self.quarantine is None:
                    raise
                log.error("outbox: notification %d cannot be published: %s", notification.id, error)
                await self.quarantine(notification, f"cannot publish {notification.topic}: {error}")
        if events:
            await self.publish(self.topic, events)
        last = notifications[-1].id
        await asyncio.to_thread(self.app.record_tracking, Tracking(self.tracking_name, last))
        metrics.EVENTS_PUBLISHED.labels(self.topic).inc(len(events))
        metrics.RELAY_BACKLOG.labels(self.topic).set(await asyncio.to_thread(self.backlog))
        return len(notifications)
