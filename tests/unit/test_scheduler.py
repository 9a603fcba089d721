"""The generic scheduler (servicekit.scheduler): do something at a moment, once, across
restarts and replicas. Told with a reminder, the kind of thing the dossier check will plan next
(due dates, reminders, expiries), over a real event store (SQLite) shared by two replicas."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from servicekit.eventstore import TrackedApplication
from servicekit.scheduler import Due, Gone, LoggedTimetable, Scheduler

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


class Reminder(Aggregate):
    @event("Planned")
    def __init__(self, tenant: str, send_at: datetime) -> None:
        self.tenant = tenant
        self.send_at = send_at
        self.sent = False
        self.called_off = False

    @event("Sent")
    def send(self) -> None:
        self.sent = True

    @event("CalledOff")
    def call_off(self) -> None:
        self.called_off = True


def reminder_moment(stored: Any) -> Due | Gone | None:
    name = type(stored).__qualname__
    if name == "Reminder.Planned":
        return Due(stored.originator_id, stored.send_at)
    if name in ("Reminder.Sent", "Reminder.CalledOff"):
        return Gone(stored.originator_id)
    return None


class Reminders(TrackedApplication):
    env = {"ORIGINATOR_ID_TYPE": "uuid"}

    def send_if_due(self, due: Due, now: datetime) -> bool:
        """The action: load, check it is still due, save with the version read."""
        reminder: Reminder = self.repository.get(due.key)
        if reminder.sent or reminder.called_off or reminder.send_at > now:
            return False
        reminder.send()
        self.save(reminder)
        return True


def open_store(path: Path) -> Reminders:
    return Reminders(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def scheduler_of(app: Reminders, act: Any = None) -> Scheduler:
    timetable = LoggedTimetable(app, reminder_moment, topic_part=":Reminder.")
    return Scheduler(timetable, act or app.send_if_due, span="send reminder", tick=60)


def sent(app: Reminders, reminder_id: UUID) -> int:
    return sum(
        1
        for notification in app.recorder.select_notifications(0, 1000)
        if notification.originator_id == reminder_id and notification.topic.endswith(".Sent")
    )


def test_a_reminder_is_sent_when_its_moment_comes_and_only_then(tmp_path: Path) -> None:
    app = open_store(tmp_path / "store.db")
    try:
        reminder = Reminder("kantoor-1", NOW + timedelta(hours=1))
        app.save(reminder)
        scheduler = scheduler_of(app)

        assert scheduler.run_due(NOW) == 0
        assert scheduler.run_due(NOW + timedelta(hours=1)) == 1
        assert scheduler.run_due(NOW + timedelta(hours=2)) == 0
        assert sent(app, reminder.id) == 1 and len(scheduler.timetable) == 0
    finally:
        app.close()


def test_a_restarted_replica_sends_what_fell_due_while_it_was_down(tmp_path: Path) -> None:
    app = open_store(tmp_path / "store.db")
    try:
        early, called_off = Reminder("k", NOW), Reminder("k", NOW)
        called_off.call_off()
        app.save(early, called_off)

        # A scheduler started afterwards reads the whole log: one still waits, one does not.
        scheduler = scheduler_of(app)
        assert scheduler.run_due(NOW + timedelta(days=1)) == 1
        assert (sent(app, early.id), sent(app, called_off.id)) == (1, 0)
    finally:
        app.close()


def test_two_replicas_on_one_store_send_a_reminder_once(tmp_path: Path) -> None:
    replica_a, replica_b = open_store(tmp_path / "s.db"), open_store(tmp_path / "s.db")
    try:
        reminders = [Reminder("k", NOW + timedelta(minutes=n)) for n in range(5)]
        replica_a.save(*reminders)
        a, b = scheduler_of(replica_a), scheduler_of(replica_b)
        a.timetable.refresh()
        b.timetable.refresh()  # both know every reminder before either acts

        later = NOW + timedelta(hours=1)
        assert a.run_due(later) + b.run_due(later) == 5
        assert [sent(replica_a, r.id) for r in reminders] == [1] * 5
    finally:
        replica_a.close()
        replica_b.close()


def test_a_failing_action_keeps_its_item_and_waits_longer_each_time(tmp_path: Path) -> None:
    app = open_store(tmp_path / "store.db")
    try:
        reminder = Reminder("k", NOW)
        app.save(reminder)
        attempts: list[datetime] = []

        def flaky(due: Due, now: datetime) -> bool:
            attempts.append(now)
            if len(attempts) < 4:
                raise ConnectionError("store away")
            return app.send_if_due(due, now)

        # Pauses double from the tick (1 minute) up to the most (3 minutes): 1, 2, 3.
        timetable = LoggedTimetable(app, reminder_moment, topic_part=":Reminder.")
        scheduler = Scheduler(
            timetable, flaky, span="send", tick=60, max_backoff=timedelta(minutes=3)
        )
        minutes = [scheduler.run_due(NOW + timedelta(minutes=m)) for m in range(10)]

        assert [int((at - NOW).total_seconds() // 60) for at in attempts] == [0, 1, 3, 6]
        assert sum(minutes) == 1 and sent(app, reminder.id) == 1
        assert scheduler.failures == {}
    finally:
        app.close()


def test_an_item_called_off_while_failing_leaves_the_scheduler(tmp_path: Path) -> None:
    app = open_store(tmp_path / "store.db")
    try:
        reminder = Reminder("k", NOW)
        app.save(reminder)

        def broken(due: Due, now: datetime) -> bool:
            raise ConnectionError("store away")

        scheduler = scheduler_of(app, broken)
        assert scheduler.run_due(NOW) == 0
        assert reminder.id in scheduler.timetable and reminder.id in scheduler.failures

        reminder.call_off()
        app.save(reminder)
        assert scheduler.run_due(NOW + timedelta(hours=1)) == 0
        assert len(scheduler.timetable) == 0 and scheduler.failures == {}
    finally:
        app.close()


def test_any_timetable_will_do_the_scheduler_only_asks_what_waits() -> None:
    class Listed:
        def __init__(self, *items: Due) -> None:
            self.items = {item.key: item for item in items}

        def refresh(self) -> None:
            pass

        def waiting(self) -> list[Due]:
            return sorted(self.items.values(), key=lambda due: due.at)

        def drop(self, key: Hashable) -> None:
            self.items.pop(key, None)

        def __contains__(self, key: object) -> bool:
            return key in self.items

        def __len__(self) -> int:
            return len(self.items)

    first, second = uuid4(), uuid4()
    done: list[Hashable] = []
    timetable = Listed(Due(second, NOW + timedelta(minutes=2)), Due(first, NOW))
    scheduler = Scheduler(timetable, lambda due, _: done.append(due.key) is None, span="x")

    assert scheduler.run_due(NOW + timedelta(minutes=5)) == 2
    assert done == [first, second] and len(timetable) == 0
