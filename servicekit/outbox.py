"""Transactional outbox: publish a service's integration events from its notification log.

The notification log is the outbox. Events are read only after they were committed, published,
and only when Kafka acknowledged every record of a batch does the relay record how far it got
(in the service's own store). A crash in between republishes that batch: at-least-once, with
deterministic event ids so that consumers recognise a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.persistence import IntegrityError, Notification, Tracking

from servicekit import metrics
from servicekit.eventstore import TrackedApplication, traceparent_of
from servicekit.failures import Disposition, classify, describe
from servicekit.lease import Lease, NoLease, lease_for
from servicekit.retry import Backoff
from shared.events.codec import new_event
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


class Owner(NamedTuple):
    """Whose a stored event is: the office and (for a dossier's aggregates) the dossier."""

    tenant: str
    dossier_id: str | None


class Origin:
    """The aggregate a stored event belongs to, as a mapping may ask for it.

    Domain events carry what happened, not what the relay needs: the office and the dossier
    come from the aggregate's identity (its first event), and a mapping that needs more of
    the aggregate's state (a run's scenario) reads the aggregate as it was after the event.
    Both are read only when asked for, and from what the relay saw before when it can.
    """

    def __init__(self, app: TrackedApplication, event: Any, seen: SeenAggregates) -> None:
        self._app = app
        self._event = event
        self._seen = seen

    @cached_property
    def owner(self) -> Owner:
        return self._seen.owner(self._app, self._event)

    @property
    def tenant(self) -> str:
        return self.owner.tenant

    @property
    def dossier_id(self) -> str | None:
        return self.owner.dossier_id

    @cached_property
    def state(self) -> Any:
        """The aggregate right after this event."""
        return self._seen.state_after(self._app, self._event)


class SeenAggregates:
    """What a relay learnt of the aggregates whose events it published last.

    The relay reads the log in order: an aggregate's first event comes before its others, and
    the state after an event is the state after the one before with this one applied. So the
    owner of a new aggregate is its creation event's, and a run's state is kept from one of its
    events to the next. Only what the relay did not see (it started in the middle of an
    aggregate's history, or forgot it) is read from the store. An owner never changes.
    """

    def __init__(self, owners: int = 10_000, states: int = 256) -> None:
        self._owners_size = owners
        # An owner, or the creation event to make it from.
        self._owners: OrderedDict[UUID, Any] = OrderedDict()
        self._states_size = states
        self._states: OrderedDict[UUID, Any] = OrderedDict()

    def saw(self, event: Any) -> None:
        """Every event the relay reads, published or not: a creation event names the owner,
        from the office and dossier it was made with (an aggregate keeps both as given); one
        that does not carry them is kept, to make the owner from when first asked. Kept as an
        owner, 10,000 aggregates take ~1 MiB; as their creation events, ~10 MiB."""
        if isinstance(event, CanInitAggregate):
            tenant, dossier_id = getattr(event, "tenant", None), getattr(event, "dossier_id", None)
            if isinstance(tenant, str) and (dossier_id is None or isinstance(dossier_id, str)):
                self._remember(event.originator_id, Owner(tenant, dossier_id))
            else:
                self._remember(event.originator_id, event)

    def owner(self, app: TrackedApplication, event: Any) -> Owner:
        originator_id = event.originator_id
        known = self._owners.get(originator_id)
        if isinstance(known, Owner):
            self._owners.move_to_end(originator_id)
            return known
        first: Any = (
            known.mutate(None)
            if known is not None
            else app.repository.get(originator_id, version=1)
        )
        owner = Owner(first.tenant, getattr(first, "dossier_id", None))
        self._remember(originator_id, owner)
        return owner

    def _remember(self, originator_id: UUID, known: Any) -> None:
        self._owners[originator_id] = known
        self._owners.move_to_end(originator_id)
        if len(self._owners) > self._owners_size:
            self._owners.popitem(last=False)

    def state_after(self, app: TrackedApplication, event: Any) -> Any:
        originator_id, version = event.originator_id, event.originator_version
        before = self._states.pop(originator_id, None)
        if isinstance(event, CanInitAggregate):
            state = event.mutate(None)
        elif before is not None and before.version == version - 1:
            # On a copy: the state a mapping read for the event before stays as it was.
            state = event.mutate(copy.deepcopy(before))
        else:
            state = app.repository.get(originator_id, version=version)
        self._states[originator_id] = state
        if len(self._states) > self._states_size:
            self._states.popitem(last=False)
        return state


@dataclass(frozen=True)
class Fact:
    """One integration event that a stored domain event publishes: its contract and data;
    ``subject`` defaults to the mapping table's choice."""

    kind: type[CloudEvent]
    data: Mapping[str, Any]
    subject: str | None = None


MapFn = Callable[[Any, Origin], "Fact | Sequence[Fact]"]
"""One domain event (and its origin) -> what it publishes."""


EventName = type | str
"""A domain event class, or its qualified name (``"DossierCheck.DocumentAdded"``): the classes
that ``@event`` makes are not visible to a type checker."""


def _name(event_class: EventName) -> str:
    return event_class if isinstance(event_class, str) else event_class.__qualname__


@dataclass
class OutboxMappings:
    """Which integration events each kind of stored domain event publishes: one small function
    per domain event class, registered with ``on``; classes that publish nothing on purpose are
    named with ``silent``. ``unmapped`` lists the rest, for a test to fail on."""

    source: str
    subject: Callable[[Any, Fact], str]
    """The CloudEvents ``subject`` of a fact that does not name its own."""
    _maps: dict[str, MapFn] = field(default_factory=dict)
    _silent: set[str] = field(default_factory=set)

    def on(self, *classes: EventName) -> Callable[[MapFn], MapFn]:
        def register(fn: MapFn) -> MapFn:
            for name in map(_name, classes):
                if name in self._maps or name in self._silent:
                    raise ValueError(f"{name} is mapped twice")
                self._maps[name] = fn
            return fn

        return register

    def silent(self, *classes: EventName) -> None:
        self._silent.update(map(_name, classes))

    def unmapped(self, *aggregates: type[Aggregate]) -> list[str]:
        """The domain events of ``aggregates`` that are neither mapped nor silent, and the
        names in the table that no class of ``aggregates`` has (a typo, a renamed event)."""
        stored = {
            cls.__qualname__ for aggregate in aggregates for cls in domain_events_of(aggregate)
        }
        named = set(self._maps) | self._silent
        return sorted((stored - named) | {f"{name} (no such event)" for name in named - stored})

    def translator(self, app: TrackedApplication) -> Translate:
        """The ``translate`` of ``app``'s relay (what it saw kept for the relay's life); an
        application with personal data seals them (``servicekit.sealing``)."""
        seen = SeenAggregates()
        seal: Callable[[CloudEvent], CloudEvent] | None = getattr(app, "seal_published", None)

        def translate(event: Any) -> list[CloudEvent]:
            seen.saw(event)
            made = self.translate(event, Origin(app, event, seen))
            return made if seal is None else [seal(e) for e in made]

        return translate

    def translate(self, event: Any, origin: Origin) -> list[CloudEvent]:
        name = type(event).__qualname__
        if name in self._silent:
            return []
        fn = self._maps.get(name)
        if fn is None:
            raise LookupError(f"no outbox mapping for {name}")
        made = fn(event, origin)
        facts = [made] if isinstance(made, Fact) else list(made)
        return [
            new_event(
                fact.kind,
                dict(fact.data),
                source=self.source,
                tenant=origin.tenant,
                dossier=origin.dossier_id,
                subject=fact.subject or self.subject(event, fact),
                event_id=integration_event_id(event, index),
                time=event.timestamp,
                correlation_id=str(event.originator_id),
            )
            for index, fact in enumerate(facts)
        ]


def domain_events_of(aggregate: type[Aggregate]) -> Iterable[type]:
    """The event classes an aggregate class stores (``@event`` makes them at class creation),
    those of the aggregate classes it is made of included (a ``DossierCheck`` is also its
    ``Claims``): a command of such a part stores the part's own class, of which the library
    makes a copy on the aggregate that is never stored."""
    parts = [
        base
        for base in aggregate.__mro__[1:]
        if issubclass(base, Aggregate) and vars(base).get("__module__") != Aggregate.__module__
    ]
    from_parts = {
        cls.__name__: cls
        for part in parts
        for cls in _events_defined_by(part)
        if not issubclass(cls, CanInitAggregate)  # a part has no creation of its own
    }
    yield from (c for c in _events_defined_by(aggregate) if c.__name__ not in from_parts)
    yield from from_parts.values()


def _events_defined_by(aggregate: type[Aggregate]) -> Iterable[type]:
    classes = [
        value
        for value in vars(aggregate).values()
        if isinstance(value, type) and issubclass(value, CanMutateAggregate)
    ]
    # Leave out the bases the library makes (``Event``; ``Created`` when the aggregate names
    # its own creation event): only what is stored.
    named_creation = any(
        issubclass(cls, CanInitAggregate) and cls.__name__ != "Created" for cls in classes
    )
    for cls in classes:
        if any(other is not cls and issubclass(other, cls) for other in classes):
            continue
        if named_creation and cls.__name__ == "Created":
            continue
        yield cls


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
        tracking_name: str | None = None,
        backlog_interval: float = 5.0,
    ) -> None:
        """``shared``: replicas share the store, so take a lease (``lease_for`` the store)
        before publishing; ``lease`` gives one explicitly. ``tracking_name``: where progress is
        recorded (``outbox:<topic>`` for the service's own relay; a republish uses another)."""
        self.app = app
        self.quarantine = quarantine
        self.topic = topic
        self.translate = translate
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.tracking_name = tracking_name or f"outbox:{topic}"
        self.backlog_interval = backlog_interval
        if lease is None:
            lease = lease_for(app, self.tracking_name) if shared else NoLease()
        self.lease = lease
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._known_position: int | None = None  # recorded by this relay, while it holds the lease
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
        backoff = Backoff(0.2, 10.0)
        watcher = asyncio.create_task(self._watch_backlog())
        try:
            while True:
                try:
                    published = await self.relay_once()
                    backoff.reset()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if self._stopping:
                        log.warning("outbox relay for %s stopped after a failure", self.topic)
                        return
                    log.exception("outbox relay for %s failed; retrying", self.topic)
                    await backoff.sleep()
                    continue
                if self._stopping:
                    return
                if published == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            watcher.cancel()
            self.lease.release()  # the next replica to ask takes over at once

    async def _watch_backlog(self) -> None:
        """Count the backlog every ``backlog_interval`` seconds from the store alone, whatever
        the broker does: while Kafka is down the relay publishes nothing, and a gauge set only
        after a publish would stay at its last value (usually 0) and never alert."""
        while True:
            try:
                backlog = await asyncio.to_thread(self.backlog)
            except Exception as error:  # the store is away: /readyz and the logs say so
                log.debug("outbox %s: backlog not counted: %s", self.topic, error)
            else:
                metrics.RELAY_BACKLOG.labels(self.topic).set(backlog)
            await asyncio.sleep(self.backlog_interval)

    async def relay_once(self) -> int:
        """Publish the next batch of notifications; returns how many notifications it covered
        (0 when another replica holds the lease, or overtook this batch)."""
        batch = await asyncio.to_thread(self._next_batch)
        if batch is None:
            return 0
        start, notifications, events, unpublishable = batch
        if unpublishable:
            for notification, reason in unpublishable:
                log.error("outbox: notification %d: %s", notification.id, reason)
                await self.quarantine(notification, reason)  # type: ignore[misc]
            if not await asyncio.to_thread(self._still_ours, start):
                log.warning("outbox %s: lease lost before sending the batch", self.topic)
                return 0
        if events:
            await self.publish(self.topic, events)
        last = notifications[-1].id
        full = len(notifications) >= self.batch_size
        try:
            backlog = await asyncio.to_thread(self._record_position, last, full)
        except IntegrityError:
            log.warning("outbox %s: another relay recorded a later position", self.topic)
            await asyncio.to_thread(self.lease.release)
            return 0
        metrics.EVENTS_PUBLISHED.labels(self.topic).inc(len(events))
        metrics.RELAY_BACKLOG.labels(self.topic).set(backlog)
        return len(notifications)

    def _next_batch(
        self,
    ) -> (
        tuple[int, Sequence[Notification], list[CloudEvent], list[tuple[Notification, str]]] | None
    ):
        """In one worker thread, up to sending: the lease, the next notifications, their events,
        and the fence. None when there is nothing to send (no lease, nothing new, or the batch
        outlived its lease or was published by another relay meanwhile)."""
        if not self.lease.acquire():
            self._known_position = None
            return None
        start = self._known_position
        if start is None:
            start = self.position()
        notifications = self.app.notifications_after(start, self.batch_size)
        if not notifications:
            metrics.RELAY_BACKLOG.labels(self.topic).set(0)
            return None
        events, unpublishable = self._translate(notifications)
        # Fencing: a batch that outlived its lease, or that another relay published meanwhile,
        # must not go out after newer events. Checked with the store just before sending (again
        # after quarantining, which takes a while).
        if not unpublishable and not self._still_ours(start):
            log.warning("outbox %s: lease lost before sending the batch", self.topic)
            return None
        return start, notifications, events, unpublishable

    def _record_position(self, last: int, full: bool) -> int:
        """Record that the relay got to ``last``; the backlog after it (none after a batch that
        took all there was when it was read: ``_watch_backlog`` counts again within seconds).

        Progress is recorded only if it is higher than what is recorded (single-row tracking
        refuses a lower or equal position): a relay that was overtaken learns so.
        """
        self._known_position = None
        self.app.process_recorder.insert_tracking(Tracking(self.tracking_name, last))
        self._known_position = last
        if not full:
            return 0
        return max(0, (self.app.recorder.max_notification_id() or 0) - last)

    def _translate(
        self, notifications: Sequence[Notification]
    ) -> tuple[list[CloudEvent], list[tuple[Notification, str]]]:
        """The integration events of ``notifications`` (a mapping may read the store, so this
        runs in a worker thread), and those that cannot be published, with the reason."""
        events: list[CloudEvent] = []
        unpublishable: list[tuple[Notification, str]] = []
        for notification in notifications:
            try:
                domain_event = self.app.domain_event_of(notification)
                events.extend(_traced(self.translate(domain_event), traceparent_of(domain_event)))
            except Exception as error:
                # A stored fact that no contract can carry (or of an older shape that the code
                # no longer reads) would stop this relay for every office, forever. Report it
                # where operations look, then go on. A store that is away is retried instead.
                if self.quarantine is None or classify(error) is not Disposition.PERMANENT:
                    raise
                reason = f"cannot publish {notification.topic}: {describe(error)}"
                unpublishable.append((notification, reason))
        return events, unpublishable

    def _still_ours(self, start: int) -> bool:
        """The fence: the lease is held and nobody recorded a position since ``start`` (one
        query on PostgreSQL). Until the lease is lost, the relay knows its position from then
        on: another relay publishes only while it holds the lease."""
        held, position = self.lease.fence(self.tracking_name)
        if position is None and held:
            position = self.position()
        self._known_position = start if held and position == start else None
        return self._known_position is not None


def _traced(events: Sequence[CloudEvent], traceparent: str | None) -> list[CloudEvent]:
    """The events with the trace context stored with their domain event (CloudEvents
    distributed-tracing extension; the publisher copies it into a Kafka header)."""
    if traceparent is None:
        return list(events)
    return [
        e if e.traceparent else e.model_copy(update={"traceparent": traceparent}) for e in events
    ]
