"""The event-sourced application base that the outbox relay and the tracking consumer build on."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, Concatenate, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.utils import get_topic

from servicekit import tracing
from servicekit.retry import Backoff

T = TypeVar("T")
P = ParamSpec("P")


class AggregateOfAnotherOffice(LookupError):
    """The aggregate stored under the id a caller's office (and dossier) derive belongs to
    another office or dossier. For the caller it does not exist (HTTP 404; on Kafka the record
    is dead-lettered), and nothing of the caller's may be written into it.

    Office ids without ``:`` keep derived ids apart; this guards records stored before that
    rule, and any id derived some other way."""


TRACEPARENT_KEY = "_traceparent"
"""Reserved in every stored event's state: the W3C traceparent of the request or record whose
command stored it. Restored as the domain event's ``_traceparent`` attribute (``traceparent_of``);
aggregates never see it (event methods receive only the attributes they name)."""


class TracingMapper(Mapper[UUID]):
    """Stores the current trace context with each domain event, so that the outbox can send it
    on with the integration events, also when it publishes long after (or again, on a replay)."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        # Mapper.to_stored_event (eventsourcing 9.5) with the reserved key added to the state.
        event_state = dict(vars(domain_event))
        traceparent = tracing.current_traceparent()
        if traceparent is not None and TRACEPARENT_KEY not in event_state:
            event_state[TRACEPARENT_KEY] = traceparent
            # The event in memory as it is stored (``JustSaved`` gives it to the log's readers).
            object.__setattr__(domain_event, TRACEPARENT_KEY, traceparent)
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
        )


def stamp_trace(traceparent: str | None, *aggregates: Any) -> None:
    """Give the aggregates' pending events that carry no trace yet ``traceparent``: several
    commands saved in one transaction (a consumed batch) each keep the trace of their own cause,
    where the current span at save time would give all of them one."""
    if traceparent is None:
        return
    for aggregate in aggregates:
        for domain_event in aggregate.pending_events:
            if TRACEPARENT_KEY not in vars(domain_event):
                object.__setattr__(domain_event, TRACEPARENT_KEY, traceparent)


def traceparent_of(domain_event: Any) -> str | None:
    """The traceparent stored with ``domain_event`` (None for events stored untraced)."""
    value = vars(domain_event).get(TRACEPARENT_KEY)
    return value if isinstance(value, str) else None


class JustSaved:
    """The notifications this process stored last, with their domain events as they were
    saved: what the readers of the log in the same process (the outbox relay, the timetables)
    would otherwise read back from the store and decode (and open) again.

    Only a run of notifications without a gap is given (``after``): one stored by another
    replica, or an id a rolled-back transaction used, sends the reader to the store. The ids of
    the log are given in commit order (SQLite has one writer; eventsourcing's PostgreSQL
    recorder locks the table while it inserts), so no notification can appear later inside a
    run this process stored. ``size`` bounds what is kept (a reader that falls behind reads
    from the store)."""

    def __init__(self, size: int = 1_000) -> None:
        self.size = size
        self._kept: OrderedDict[int, Recording[UUID]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, recordings: Sequence[Recording[UUID]]) -> None:
        with self._lock:
            for recording in recordings[-self.size :]:
                self._kept[recording.notification.id] = recording
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def after(self, position: int, limit: int) -> list[Notification]:
        """The notifications right after ``position``, up to ``limit``, as long as this process
        stored each of them; empty when it did not store the next one (or forgot it)."""
        found: list[Notification] = []
        with self._lock:
            while len(found) < limit:
                recording = self._kept.get(position + len(found) + 1)
                if recording is None:
                    break
                found.append(recording.notification)
        return found

    def event_of(self, notification: Notification) -> Any | None:
        """The domain event saved as ``notification``; None when it is not kept."""
        recording = self._kept.get(notification.id)
        if recording is None:
            return None
        saved = recording.notification
        if (saved.originator_id, saved.originator_version) != (
            notification.originator_id,
            notification.originator_version,
        ):
            return None  # not the one saved here (a store that was reset under the process)
        return recording.domain_event


class TrackedApplication(Application[UUID]):
    """An `eventsourcing` application whose store also records tracking positions.

    - ``save_tracked`` stores new aggregate events together with the position of the record that
      caused them, in one transaction: the consumer side of exactly-once.
    - Listeners are called after every commit, so the outbox relay publishes at once instead of
      waiting for its poll timer (SQLite recorders cannot subscribe).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.just_saved = JustSaved()
        self._save_listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=TracingMapper
        )

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def add_save_listener(self, listener: Callable[[], None]) -> None:
        with self._listeners_lock:
            self._save_listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            self.just_saved.add(recordings)
            for listener in list(self._save_listeners):
                listener()

    def notifications_after(self, position: int, limit: int) -> Sequence[Notification]:
        """The log's next notifications after ``position`` (up to ``limit``): those this process
        just stored, without a query, or else from the store."""
        return self.just_saved.after(position, limit) or self.recorder.select_notifications(
            position, limit, inclusive_of_start=False
        )

    def domain_event_of(self, notification: Notification) -> Any:
        """The notification's domain event: as this process saved it, or else decoded."""
        saved = self.just_saved.event_of(notification)
        return saved if saved is not None else self.mapper.to_domain_event(notification)

    def save_tracked(self, tracking: Tracking | None, *objs: Any) -> list[Recording[UUID]]:
        """Save the aggregates' pending events and ``tracking`` atomically.

        Raises ``IntegrityError`` when the tracking position was recorded already (another replica
        got there first) or an aggregate changed concurrently; the caller tells which.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs)
        recordings = self._record(processing_event)
        # As ``save`` does: a snapshot of an aggregate that passed its interval (after the
        # commit, in a transaction of its own; one not taken is taken at the next interval).
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def retry_on_conflict(self, command: Callable[[], T], attempts: int = 20) -> T:
        """Run a load-change-save command again when another thread or replica saved first.

        Optimistic concurrency makes the later of two saves fail; loading again sees what the
        earlier one did (the repository fast-forwards its cached copy from the store). A short
        random pause spreads out a crowd of writers on one aggregate.
        """
        backoff = Backoff(0.005, 0.1, jitter=True)
        for _attempt in range(attempts - 1):
            try:
                return command()
            except IntegrityError:
                backoff.sleep_blocking()
        return command()

    def get_owned(self, aggregate_id: UUID, *, copy: bool = True, **owner: str) -> Any:
        """The aggregate, checked to be the caller's: each of ``owner`` (``tenant``,
        ``dossier_id``, ...) must equal the loaded aggregate's attribute of that name.

        ``copy=False`` gives the cached aggregate itself, without the deep copy: only for a
        caller that reads a field or two at once and changes nothing (the repository brings the
        cached one up to date in place, so anything kept of it may change under the caller).

        Raises ``AggregateNotFoundError`` when nothing is stored under the id, and
        ``AggregateOfAnotherOffice`` when what is stored is somebody else's.
        """
        aggregate: Any = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        for attribute, expected in owner.items():
            if getattr(aggregate, attribute, None) != expected:
                raise AggregateOfAnotherOffice(
                    f"{type(aggregate).__name__} {aggregate_id} is not of this office's "
                    f"{attribute} {expected!r}"
                )
        return aggregate

    def office_aggregate(self, cls: Any, tenant: str, **owner: str) -> Any:
        """The office's one aggregate of ``cls`` (settings, a catalogue: its id is
        ``cls.create_id(tenant)``), or with ``owner`` (``dossier_id=...``) the one of that
        dossier of the office, checked to be theirs; a new one while nothing is stored yet."""
        names: dict[str, Any] = {"tenant": tenant, **owner}
        try:
            return self.get_owned(cls.create_id(tenant, **owner), **names)
        except AggregateNotFoundError:
            return cls(tenant, **owner)

    def has_tracked(self, tracking: Tracking) -> bool:
        return self.process_recorder.has_tracking_id(
            tracking.application_name, tracking.notification_id
        )

    def max_tracking_id(self, name: str) -> int | None:
        return self.process_recorder.max_tracking_id(name)

    def record_tracking(self, tracking: Tracking) -> None:
        """Record a position with nothing else to store (a skipped or dead-lettered record)."""
        try:
            self.process_recorder.insert_tracking(tracking)
        except IntegrityError:
            if not self.has_tracked(tracking):
                raise


class SetAsList(Transcoding):
    """A set in a snapshot (a dossier check's handled request ids), stored as a sorted list."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class ValueObjectAsDict(Transcoding):
    """A value object (a dataclass made again by ``cls.of(dict)``) in a snapshot, as a dict of
    its fields, named ``<prefix>.<class name>`` in the store."""

    def __init__(self, cls: Any, prefix: str) -> None:
        self.type: Any = cls
        self.name = f"{prefix}.{cls.__name__}"

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type.of(data)


App = TypeVar("App", bound=TrackedApplication)


def retried_on_conflict(
    attempts: int = 20,
) -> Callable[[Callable[Concatenate[App, P], T]], Callable[Concatenate[App, P], T]]:
    """A command that loads, changes and saves, run again when another thread or replica saved
    first (``TrackedApplication.retry_on_conflict``): the command is written as it reads, once.

    ``@retried_on_conflict()`` on a method of a ``TrackedApplication``; ``attempts`` as there.
    """

    def decorate(command: Callable[Concatenate[App, P], T]) -> Callable[Concatenate[App, P], T]:
        @functools.wraps(command)
        def retried(app: App, /, *args: P.args, **kwargs: P.kwargs) -> T:
            return app.retry_on_conflict(lambda: command(app, *args, **kwargs), attempts)

        return retried

    return decorate
