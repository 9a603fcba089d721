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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import IntegrityError, Notification, Tracking

from servicekit import metrics
from servicekit.eventstore import TrackedApplication, traceparent_of
from servicekit.failures import Disposition, classify, describe
from servicekit.lease import Lease, NoLease, lease_for
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
        lease: Lease | None = None,
        shared: bool = False,
    ) -> None:
        """``shared``: replicas share the store, so take a lease (``lease_for`` the store)
        before publishing; ``lease`` gives one explicitly."""
        self.app = app
        self.quarantine = quarantine
        self.topic = topic
        self.translate = translate
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.tracking_name = f"outbox:{topic}"
        if lease is None:
            lease = lease_for(app, self.tracking_name) if shared else NoLease()
        self.lease = lease
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        app.add_save_listener(self.wake)

    def stop(self) -> None:
        """Return from ``run`` after the batch in hand (or one more, when idle: what the last
        requests stored); the lease is released for the next replica."""
        self._stopping = True
        self.wake()

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
        """Relay until stopped or cancelled; a failed publish is retried with backoff, never
        skipped (when stopping, it is left to the next start or replica)."""
        self._loop = asyncio.get_running_loop()
        backoff = 0.2
        try:
            while True:
                try:
                    published = await self.relay_once()
                    backoff = 0.2
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if self._stopping:
                        log.warning("outbox relay for %s stopped after a failure", self.topic)
                        return
                    log.exception(
                        "outbox relay for %s failed; retrying in %.1fs", self.topic, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if self._stopping:
                    return
                if published == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            self.lease.release()  # the next replica to ask takes over at once

    async def relay_once(self) -> int:
        """Publish the next batch of notifications; returns how many notifications it covered
        (0 when another replica holds the lease, or overtook this batch)."""
        if not await asyncio.to_thread(self.lease.acquire):
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
            try:
                domain_event = self.app.mapper.to_domain_event(notification)
                events.extend(_traced(self.translate(domain_event), traceparent_of(domain_event)))
            except Exception as error:
                # A stored fact that no contract can carry (or of an older shape that the code
                # no longer reads) would stop this relay for every office, forever. Report it
                # where operations look, then go on. A store that is away is retried instead.
                if self.quarantine is None or classify(error) is not Disposition.PERMANENT:
                    raise
                reason = f"cannot publish {notification.topic}: {describe(error)}"
                log.error("outbox: notification %d: %s", notification.id, reason)
                await self.quarantine(notification, reason)
        # Fencing: a batch that outlived its lease, or that another relay published meanwhile,
        # must not go out after newer events. Checked with the store just before sending.
        if not await asyncio.to_thread(self._still_ours, start):
            log.warning("outbox %s: lease lost before sending the batch", self.topic)
            return 0
        if events:
            await self.publish(self.topic, events)
        last = notifications[-1].id
        try:
            # Progress is recorded only if it is higher than what is recorded (single-row
            # tracking refuses a lower or equal position): a relay that was overtaken learns so.
            await asyncio.to_thread(
                self.app.process_recorder.insert_tracking, Tracking(self.tracking_name, last)
            )
        except IntegrityError:
            log.warning("outbox %s: another relay recorded a later position", self.topic)
            await asyncio.to_thread(self.lease.release)
            return 0
        metrics.EVENTS_PUBLISHED.labels(self.topic).inc(len(events))
        metrics.RELAY_BACKLOG.labels(self.topic).set(await asyncio.to_thread(self.backlog))
        return len(notifications)

    def _still_ours(self, start: int) -> bool:
        return self.lease.held() and self.position() == start


def _traced(events: Sequence[CloudEvent], traceparent: str | None) -> list[CloudEvent]:
    """The events with the trace context stored with their domain event (CloudEvents
    distributed-tracing extension; the publisher copies it into a Kafka header)."""
    if traceparent is None:
        return list(events)
    return [
        e if e.traceparent else e.model_copy(update={"traceparent": traceparent}) for e in events
    ]
