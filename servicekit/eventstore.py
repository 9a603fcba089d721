"""The event-sourced application base that the outbox relay and the tracking consumer build on."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    ProcessRecorder,
    Recording,
    Tracking,
)

T = TypeVar("T")


class AggregateOfAnotherOffice(LookupError):
    """The aggregate stored under the id a caller's office (and dossier) derive belongs to
    another office or dossier. For the caller it does not exist (HTTP 404; on Kafka the record
    is dead-lettered), and nothing of the caller's may be written into it.

    Office ids without ``:`` keep derived ids apart; this guards records stored before that
    rule, and any id derived some other way."""


class TrackedApplication(Application[UUID]):
    """An `eventsourcing` application whose store also records tracking positions.

    - ``save_tracked`` stores new aggregate events together with the position of the record that
      caused them, in one transaction: the consumer side of exactly-once.
    - Listeners are called after every commit, so the outbox relay publishes at once instead of
      waiting for its poll timer (SQLite recorders cannot subscribe).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._save_listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        super().__init__(env)

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
            for listener in list(self._save_listeners):
                listener()

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
        for attempt in range(attempts - 1):
            try:
                return command()
            except IntegrityError:
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
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
