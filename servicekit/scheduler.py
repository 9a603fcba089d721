"""Do something at a moment, once, across restarts and replicas.

A service gives two things: a **timetable** (what waits, and until when: a query over its own
store) and an **action** (a callback that does one due thing). ``LoggedTimetable`` is the usual
timetable: it follows the application's notification log, which every replica shares through
the store, and reads each stored event with a function the service gives (``Due`` for a moment
planned or moved, ``Gone`` for one done or called off). Rebuilt from the log at start, it also
finds what fell due while no replica was running.

Once only: the scheduler holds no lock or lease; any replica may try a due item. The action
makes it happen once by loading the aggregate, checking it is still due, and saving with the
version it read (the store's optimistic concurrency): when replicas race, one save wins and
the others find it done and answer False. An action that raises (saves that keep conflicting,
a store that fails) keeps its item, tried again after a pause that doubles from ``tick`` up to
``max_backoff``, until it succeeds or the timetable drops the item.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventsourcing.persistence import Notification
from prometheus_client import Counter, Gauge

from servicekit import tracing
from servicekit.eventstore import TrackedApplication

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """``key`` is to be done at ``at``; its execution continues the trace ``traceparent``."""

    key: Hashable
    at: datetime
    traceparent: str | None = None


@dataclass(frozen=True)
class Gone:
    """``key`` was done or called off: nothing waits for it any more."""

    key: Hashable


Action = Callable[[Due, datetime], bool]
"""Does one due item at ``now``: True when it did it, False when there was nothing left to do
(done by another replica, called off, moved later). Raises to be tried again later."""

ReadEvent = Callable[[Any], "Due | Gone | None"]
"""What one stored domain event means for the timetable (None: nothing)."""


class Timetable(Protocol):
    def refresh(self) -> None:
        """Learn what changed in the store since the last call."""

    def waiting(self) -> list[Due]:
        """What waits, soonest first."""

    def drop(self, key: Hashable) -> None: ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...


def log_pages(
    app: TrackedApplication, position: int, size: int = 1000
) -> Iterator[Sequence[Notification]]:
    """The notifications after ``position`` up to the log's end, a page at a time (a timetable
    records the last one's id once it has read a page)."""
    while True:
        notifications = app.notifications_after(position, size)
        if not notifications:
            return
        yield notifications
        position = notifications[-1].id


class PendingDues:
    """What a timetable holds, by key: the part of ``Timetable`` every timetable shares (how it
    learns what is due, ``refresh``, is its own)."""

    def __init__(self) -> None:
        self.pending: dict[Hashable, Due] = {}

    def waiting(self) -> list[Due]:
        return sorted(self.pending.values(), key=lambda due: due.at)

    def drop(self, key: Hashable) -> None:
        self.pending.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self.pending

    def __len__(self) -> int:
        return len(self.pending)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.pending)


class LoggedTimetable(PendingDues):
    """A timetable read from an application's notification log, ``topic_part`` narrowing the
    stored events read (``":ScenarioRun."``) so that the others are not decoded."""

    def __init__(self, app: TrackedApplication, read: ReadEvent, topic_part: str = "") -> None:
        super().__init__()
        self.app = app
        self.read = read
        self.topic_part = topic_part
        self.position = 0

    def refresh(self) -> None:
        for notifications in log_pages(self.app, self.position):
            for notification in notifications:
                if self.topic_part in notification.topic:
                    self._fold(self.read(self.app.domain_event_of(notification)))
            self.position = notifications[-1].id

    def _fold(self, change: Due | Gone | None) -> None:
        if isinstance(change, Due):
            self.pending[change.key] = change
        elif isinstance(change, Gone):
            self.pending.pop(change.key, None)


class Scheduler:
    """Runs ``act`` for each item of ``timetable`` whose moment has come (see the module)."""

    def __init__(
        self,
        timetable: Timetable,
        act: Action,
        *,
        span: str,
        tick: float = 0.2,
        max_backoff: timedelta = timedelta(seconds=30),
        done: Counter | None = None,
        waiting: Gauge | None = None,
    ) -> None:
        self.timetable = timetable
        self.act = act
        self.span = span
        self.tick = tick
        self.max_backoff = max_backoff
        self.done = done
        self.waiting = waiting
        # Items whose action failed: how often in a row, and not before when to try again.
        self.failures: dict[Hashable, tuple[int, datetime]] = {}

    def run_due(self, now: datetime) -> int:
        """Act on every item whose moment has come; returns how many this call did."""
        self.timetable.refresh()
        for key in [key for key in self.failures if key not in self.timetable]:
            del self.failures[key]
        count = 0
        for due in self.timetable.waiting():
            if due.at > now:
                break
            failed, retry_at = self.failures.get(due.key, (0, due.at))
            if retry_at > now:
                continue
            try:
                with tracing.continued(self.span, due.traceparent):
                    did = self.act(due, now)
            except Exception:
                self._failed(due, failed, now)
                continue
            if did:
                count += 1
                if self.done is not None:
                    self.done.inc()
            self.timetable.drop(due.key)
            self.failures.pop(due.key, None)
        if self.waiting is not None:
            self.waiting.set(len(self.timetable))
        return count

    def _failed(self, due: Due, failed: int, now: datetime) -> None:
        # Saves that keep conflicting, or a store that fails: never drop the item.
        pause = min(timedelta(seconds=self.tick) * 2 ** min(failed, 16), self.max_backoff)
        self.failures[due.key] = (failed + 1, now + pause)
        log.warning(
            "%s %s failed (%d in a row); trying again in %s",
            self.span,
            due.key,
            failed + 1,
            pause,
            exc_info=True,
        )

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and the next one tries again."""
        while True:
            try:
                await asyncio.to_thread(self.run_due, datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: scheduler tick failed; trying again", self.span)
            await asyncio.sleep(self.tick)
