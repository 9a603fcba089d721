"""The log's readers in the process that saved (the outbox relay, the timetables) take what was
just saved from memory (``servicekit.eventstore.JustSaved``) rather than reading it back from
the store and decoding it: each event kept must be the event the store gives back, a run with
a gap must send the reader to the store, and what is kept is bounded. On real SQLite stores."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import Notification, Recording
from opentelemetry.sdk.trace import TracerProvider

from servicekit.dossier_keys import MemoryKeySource
from servicekit.eventstore import JustSaved, TrackedApplication, traceparent_of
from services.scenario_service.application import Scenarios
from tests.unit import test_scenario_sealing, test_sealing


def assert_kept_as_stored(app: TrackedApplication, at_least: int) -> None:
    """Each kept event is of the class and has the attributes of the one decoded from the
    store, and the log read through ``notifications_after`` is the store's."""
    stored = app.recorder.select_notifications(1, 10_000)
    kept = 0
    for notification in stored:
        saved = app.just_saved.event_of(notification)
        if saved is None:
            continue
        kept += 1
        decoded = app.mapper.to_domain_event(notification)
        assert type(saved) is type(decoded)
        assert vars(saved) == vars(decoded), notification.topic
    assert kept >= at_least
    read: list[Notification] = []
    position = 0
    while page := app.notifications_after(position, 7):
        read.extend(page)
        position = page[-1].id
    assert [(n.id, n.originator_id, n.originator_version, n.state) for n in read] == [
        (n.id, n.originator_id, n.originator_version, n.state) for n in stored
    ]


def test_a_dossier_check_s_events_are_kept_as_the_store_gives_them_back(tmp_path: Path) -> None:
    checks = test_sealing.store_at(tmp_path)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("POST /dossier-requests"):
        test_sealing.fill(checks)  # sealed titles, a snapshot, a claim: all under a trace
    assert_kept_as_stored(checks, at_least=10)
    traced = [checks.just_saved.event_of(n) for n in checks.recorder.select_notifications(1, 100)]
    assert all(traceparent_of(event) for event in traced if event is not None)


def test_a_scenario_store_s_events_are_kept_as_the_store_gives_them_back(tmp_path: Path) -> None:
    scenarios: Scenarios = test_scenario_sealing.store_at(tmp_path, MemoryKeySource())
    test_scenario_sealing.fill(scenarios)
    assert_kept_as_stored(scenarios, at_least=3)


def _notification(notification_id: int, originator: UUID, version: int) -> Notification:
    return Notification(
        id=notification_id, originator_id=originator, originator_version=version, topic="t",
        state=b"{}",
    )  # fmt: skip


def _recording(notification_id: int, originator: UUID, version: int = 1) -> Recording[UUID]:
    notification = _notification(notification_id, originator, version)
    return Recording(domain_event=object(), notification=notification)  # type: ignore[arg-type]


def test_a_gap_sends_the_reader_to_the_store_and_what_is_kept_is_bounded() -> None:
    a, b = UUID(int=1), UUID(int=2)
    kept = JustSaved(size=4)
    kept.add([_recording(3, a), _recording(4, a, 2), _recording(6, b)])  # 5: another replica's
    assert [n.id for n in kept.after(2, 10)] == [3, 4]
    assert kept.after(4, 10) == []  # the store has 5 (or nothing: a rolled-back id)
    assert [n.id for n in kept.after(5, 10)] == [6]
    assert [n.id for n in kept.after(2, 1)] == [3]
    assert kept.after(0, 10) == []
    kept.add([_recording(7, b, 2), _recording(8, b, 3)])
    assert kept.after(2, 10) == []  # 3 is forgotten: at most 4 kept
    assert [n.id for n in kept.after(3, 10)] == [4]
    # An event is given only for the notification it was saved as.
    assert kept.event_of(_notification(8, b, 3)) is not None
    assert kept.event_of(_notification(8, a, 3)) is None
    assert kept.event_of(_notification(9, b, 4)) is None
