"""The transactional outbox: what the dossier check stored is published, once it is stored.

The relay follows a real SQLite event store; only Kafka is replaced by a list that records each
acknowledged batch (and can be told to fail, as a broker that is down does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, Tracking

from servicekit.outbox import OutboxRelay
from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import DossierCheck, document_id_for
from shared.events import contracts as c

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
DOSSIER = "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
PASSPORT = {
    "sha256": "a" * 64,
    "size": 1000,
    "content_type": "application/pdf",
    "filename": "paspoort.pdf",
}


class FakeKafka:
    """Acknowledges every batch it is given, unless it is down."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[c.CloudEvent]]] = []
        self.down = False

    async def publish(self, topic: str, events: Sequence[c.CloudEvent]) -> None:
        if self.down:
            raise ConnectionError("broker unavailable")
        self.batches.append((topic, list(events)))

    @property
    def events(self) -> list[c.CloudEvent]:
        return [event for _, batch in self.batches for event in batch]


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "dossiercontrole.sqlite"),
    }


@pytest.fixture
def checks(store: dict[str, str]) -> Iterator[DossierChecks]:
    app = DossierChecks(env=store)
    yield app
    app.close()


def relay_for(app: DossierChecks, broker: FakeKafka, **options: Any) -> OutboxRelay:
    """The service's relay of ``app`` into ``broker`` (``options``: shared, lease, batch_size)."""
    return OutboxRelay(
        app, kafka.PUBLISHES, kafka.OUTBOX.translator(app), broker.publish, **options
    )


def request(app: DossierChecks, document_type: str = "identiteitsbewijs") -> UUID:
    request_id = uuid4()
    app.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, None, NOW)
    )
    return document_id_for(request_id)


def translate_all(app: DossierChecks) -> list[c.CloudEvent]:
    notifications = app.recorder.select_notifications(0, 1000)
    translate = kafka.OUTBOX.translator(app)
    return [e for n in notifications for e in translate(app.mapper.to_domain_event(n))]


async def test_a_stored_request_is_published_and_the_position_recorded(
    checks: DossierChecks,
) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker)

    # A document is requested and stored.
    document_id = request(checks)

    # The relay publishes it on the dossier-check topic ...
    covered = await relay.relay_once()
    assert broker.batches[0][0] == "actiepunten.dossiercontrole.v1"
    assert [(e.type, e.data.document_id) for e in broker.events] == [
        ("DocumentAdded", document_id),
        ("ActionPointOpened", document_id),
    ]
    # ... and records how far it got, in the service's own store.
    head = checks.recorder.max_notification_id()
    assert covered == head
    assert relay.position() == head
    assert checks.max_tracking_id("outbox:actiepunten.dossiercontrole.v1") == head
    assert relay.backlog() == 0


async def test_nothing_is_published_twice(checks: DossierChecks) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker)
    request(checks)
    await relay.relay_once()

    # The next poll finds nothing new.
    assert await relay.relay_once() == 0
    assert len(broker.batches) == 1

    # A new request: only that one is published.
    request(checks, "werkgeversverklaring")
    await relay.relay_once()
    assert [e.type for e in broker.batches[1][1]] == ["DocumentAdded", "ActionPointOpened"]
    assert broker.batches[1][1][0].data.document_type == "werkgeversverklaring"
    assert len({e.id for e in broker.events}) == 4


async def test_only_committed_events_are_published(checks: DossierChecks) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker)
    document_id = request(checks)
    await relay.relay_once()

    # A command changes the dossier but is never saved ...
    check: DossierCheck = checks.repository.get(DossierCheck.create_id(OFFICE, DOSSIER))
    check.remove_document(document_id, "adviser:adviseur-1", NOW)
    # ... and a save that loses a race is rolled back.
    stale: DossierCheck = checks.repository.get(DossierCheck.create_id(OFFICE, DOSSIER))
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", NOW))
    stale.remove_document(document_id, "adviser:adviseur-1", NOW)
    with pytest.raises(IntegrityError):
        checks.save(stale)

    await relay.relay_once()

    # Only the upload that was stored reaches the topic.
    assert [e.type for e in broker.batches[-1][1]] == ["DocumentUploaded", "ActionPointCompleted"]
    assert "DocumentRemoved" not in {e.type for e in broker.events}


async def test_when_kafka_is_down_the_batch_is_published_again_later(
    checks: DossierChecks,
) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker)
    request(checks)
    broker.down = True

    # Publishing fails: the relay does not move on.
    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert relay.position() == 0
    assert broker.batches == []

    # Kafka is back: the same batch goes out, with the same event ids a consumer may have seen.
    broker.down = False
    attempt_ids = [e.id for e in translate_all(checks)]
    await relay.relay_once()
    assert [e.id for e in broker.events] == attempt_ids
    assert relay.position() == checks.recorder.max_notification_id()


async def test_the_relay_works_through_a_backlog_batch_by_batch(checks: DossierChecks) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker, batch_size=3)
    for document_type in ("identiteitsbewijs", "werkgeversverklaring", "loonstrook"):
        request(checks, document_type)
    head = checks.recorder.max_notification_id()
    assert head is not None and head > 3

    # Each call covers at most three stored events, until the backlog is gone.
    covered = []
    while (count := await relay.relay_once()) > 0:
        covered.append(count)
        assert relay.backlog() == head - relay.position()

    assert sum(covered) == head
    assert max(covered) == 3
    added = [e.data.document_type for e in broker.events if e.type == "DocumentAdded"]
    assert added == ["identiteitsbewijs", "werkgeversverklaring", "loonstrook"]


async def test_after_a_restart_the_relay_resumes_where_it_was(store: dict[str, str]) -> None:
    broker = FakeKafka()
    before = DossierChecks(env=store)
    request(before, "identiteitsbewijs")
    await relay_for(before, broker).relay_once()
    before.close()

    # The service restarts on the same store and a new request comes in.
    after = DossierChecks(env=store)
    try:
        request(after, "loonstrook")
        await relay_for(after, broker).relay_once()
    finally:
        after.close()

    added = [e.data.document_type for e in broker.events if e.type == "DocumentAdded"]
    assert added == ["identiteitsbewijs", "loonstrook"]


async def test_a_stored_event_no_contract_can_carry_is_quarantined_and_the_rest_goes_out(
    checks: DossierChecks,
) -> None:
    # Two requests are stored; the first of them cannot be translated (say, a bad title).
    first, second = request(checks, "identiteitsbewijs"), request(checks, "loonstrook")
    broker = FakeKafka()
    quarantined: list[tuple[int, str]] = []

    async def quarantine(notification: object, reason: str) -> None:
        quarantined.append((notification.id, reason))  # type: ignore[attr-defined]

    def translate(event: object) -> list[c.CloudEvent]:
        if getattr(event, "document_id", None) == first:
            raise ValueError("title: String should have at most 300 characters")
        return mapped(event)

    mapped = kafka.OUTBOX.translator(checks)
    relay = OutboxRelay(checks, kafka.PUBLISHES, translate, broker.publish, quarantine=quarantine)
    await relay.relay_once()

    # The bad one is reported with its reason; the relay did not stop on it.
    assert [reason for _, reason in quarantined] == [
        f"cannot publish {_topic_of(checks, quarantined[0][0])}: "
        "title: String should have at most 300 characters"
    ]
    assert {e.data.document_id for e in broker.events if e.type == "DocumentAdded"} == {second}
    assert relay.backlog() == 0


def _topic_of(app: DossierChecks, notification_id: int) -> str:
    [notification] = app.recorder.select_notifications(notification_id, 1)
    return notification.topic


async def test_one_replica_relays_and_the_other_takes_over_when_it_stops(
    store: dict[str, str],
) -> None:
    # Two replicas of the service share one store; each runs its relay.
    first_app, second_app = DossierChecks(env=store), DossierChecks(env=store)
    broker = FakeKafka()
    first = relay_for(first_app, broker, shared=True)
    second = relay_for(second_app, broker, shared=True)

    # A request saved by the second replica ...
    request(second_app)
    # ... is published by the relay that holds the lease, and only by that one.
    assert await first.relay_once() == 4  # the check opened, the document, two locators
    assert await second.relay_once() == 0
    request(second_app, "loonstrook")
    assert await second.relay_once() == 0
    assert await first.relay_once() == 3
    assert [e.type for e in broker.events].count("DocumentAdded") == 2

    # The first replica stops; the other takes over and goes on where the first stopped.
    first.lease.release()
    request(first_app, "jaarcijfers")
    assert await second.relay_once() == 3
    assert await first.relay_once() == 0
    assert [e.type for e in broker.events].count("DocumentAdded") == 3
    assert len({e.id for e in broker.events}) == len(broker.events)  # nothing twice
    second.lease.release()
    first_app.close()
    second_app.close()


async def test_a_clock_stepped_back_does_not_stop_a_single_relay(
    checks: DossierChecks, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = FakeKafka()
    relay = relay_for(checks, broker, shared=True)
    clock = [1_000_000.0]
    monkeypatch.setattr("time.time", lambda: clock[0])
    request(checks)
    assert await relay.relay_once() == 4

    # NTP steps the machine's clock back an hour; the adviser goes on requesting documents.
    clock[0] -= 3600
    request(checks, "loonstrook")

    # They are published at once, not an hour later.
    assert await relay.relay_once() == 3
    assert [e.type for e in broker.events].count("DocumentAdded") == 2
    relay.lease.release()


class LostLease:
    """A lease that is taken, then lost before the batch is sent (a pause, a dropped session)."""

    def __init__(self) -> None:
        self.checks = 0

    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        self.checks += 1
        return False

    def fence(self, tracking_name: str) -> tuple[bool, int | None]:
        return self.held(), None

    def release(self) -> None:
        pass


async def test_a_batch_that_outlived_its_lease_is_not_sent(checks: DossierChecks) -> None:
    request(checks)
    broker = FakeKafka()
    lease = LostLease()
    relay = relay_for(checks, broker, lease=lease)

    assert await relay.relay_once() == 0

    # Checked just before sending: nothing went out, and no progress was recorded.
    assert lease.checks == 1
    assert broker.events == []
    assert relay.position() == 0


async def test_a_batch_overtaken_by_another_relay_is_not_sent_again(checks: DossierChecks) -> None:
    request(checks)
    broker = FakeKafka()
    relay = relay_for(checks, broker)
    head = checks.recorder.max_notification_id()

    def overtaken(event: object) -> list[c.CloudEvent]:
        # While this relay translates, another one published the batch and recorded it.
        checks.record_tracking(Tracking(relay.tracking_name, head))
        return mapped(event)

    mapped = kafka.OUTBOX.translator(checks)
    relay.translate = overtaken
    assert await relay.relay_once() == 0
    assert broker.events == []
    assert relay.position() == head


async def test_a_stored_event_of_an_older_shape_is_quarantined_and_later_events_go_out(
    checks: DossierChecks,
) -> None:
    # A stored event whose translation meets an older shape (a missing key), then a good one.
    first, second = request(checks, "identiteitsbewijs"), request(checks, "loonstrook")
    broker = FakeKafka()
    quarantined: list[tuple[int, str]] = []

    async def quarantine(notification: object, reason: str) -> None:
        quarantined.append((notification.id, reason))  # type: ignore[attr-defined]

    def translate(event: object) -> list[c.CloudEvent]:
        if getattr(event, "document_id", None) == first:
            raise KeyError("subject")
        return mapped(event)

    mapped = kafka.OUTBOX.translator(checks)
    relay = OutboxRelay(checks, kafka.PUBLISHES, translate, broker.publish, quarantine=quarantine)
    await relay.relay_once()

    (reason,) = [reason for _, reason in quarantined]
    assert "KeyError" in reason and "subject" in reason
    assert {e.data.document_id for e in broker.events if e.type == "DocumentAdded"} == {second}
    assert relay.backlog() == 0


async def test_a_store_that_is_away_stops_the_batch_rather_than_quarantining(
    checks: DossierChecks,
) -> None:
    request(checks)
    broker = FakeKafka()
    quarantined: list[str] = []

    async def quarantine(notification: object, reason: str) -> None:
        quarantined.append(reason)

    def translate(event: object) -> list[c.CloudEvent]:
        raise OperationalError("server closed the connection unexpectedly")

    relay = OutboxRelay(checks, kafka.PUBLISHES, translate, broker.publish, quarantine=quarantine)
    with pytest.raises(OperationalError):
        await relay.relay_once()
    assert quarantined == [] and broker.events == [] and relay.position() == 0


def test_each_copy_of_a_run_schedule_carries_a_growing_sequence() -> None:
    # An adviser plans a scenario for next week; the appointment moves twice.
    from services.scenario_service import kafka as scenario_kafka
    from services.scenario_service.application import DefineScenario, Scenarios, StartScenarios
    from services.scenario_service.domainmodel import Subject

    app = Scenarios()
    try:
        scenario_id = app.define_scenario(
            DefineScenario(
                OFFICE,
                "Hyp",
                "hypotheek",
                [{"document_type": "identiteitsbewijs"}],
                None,
                "admin-1",
            )
        )
        (run,) = app.start_scenarios(
            StartScenarios(
                OFFICE,
                DOSSIER,
                Subject.of(MORTGAGE),
                [scenario_id],
                "adviser-1",
                execute_at=NOW + timedelta(days=7),
            ),
            now=NOW,
        )
        run.reschedule(NOW + timedelta(days=8))
        run.reschedule(NOW + timedelta(days=9))
        app.save(run)
        translate = scenario_kafka.OUTBOX.translator(app)
        schedules = [
            event
            for notification in app.recorder.select_notifications(0, 100)
            for event in translate(app.mapper.to_domain_event(notification))
            if isinstance(event, c.ScenarioScheduled)
        ]
    finally:
        app.close()

    # A consumer keeping the latest schedule can tell an older copy by its sequence.
    assert [s.data.execute_at.day for s in schedules] == [17, 18, 19]
    sequences = [s.data.sequence for s in schedules]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    latest = max(schedules, key=lambda s: s.data.sequence or 0)
    assert latest.data.execute_at == NOW + timedelta(days=9)


def test_a_relay_walking_the_log_publishes_what_reading_the_store_gives_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two runs: one started now (created and executed at once), one planned and moved twice.
    from services.scenario_service import kafka as scenario_kafka
    from services.scenario_service.application import DefineScenario, Scenarios, StartScenarios
    from services.scenario_service.domainmodel import Subject
    from shared.events.codec import encode

    app = Scenarios()
    try:
        scenario_id = app.define_scenario(
            DefineScenario(
                OFFICE, "Hyp", "hypotheek", [{"document_type": "paspoort"}], None, "admin-1"
            )
        )
        for execute_at in (None, NOW + timedelta(days=7)):
            start = StartScenarios(
                OFFICE,
                DOSSIER,
                Subject.of(MORTGAGE),
                [scenario_id],
                "adviser-1",
                execute_at=execute_at,
            )
            (run,) = app.start_scenarios(start, now=NOW)
        run.reschedule(NOW + timedelta(days=8))
        run.reschedule(NOW + timedelta(days=9))
        app.save(run)
        events = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(0, 100)]
        # A relay started in the middle of each aggregate's history reads it from the store.
        from_the_store = [
            encode(e) for event in events for e in scenario_kafka.OUTBOX.translator(app)(event)
        ]
        reads: list[Any] = []
        get = app.repository.get
        monkeypatch.setattr(app.repository, "get", lambda *a, **k: reads.append(a) or get(*a, **k))
        translate = scenario_kafka.OUTBOX.translator(app)
        walked = [encode(e) for event in events for e in translate(event)]
    finally:
        app.close()

    assert len(from_the_store) >= 5
    assert walked == from_the_store
    assert reads == []


async def test_a_relay_told_to_stop_finishes_its_batch_and_returns(checks: DossierChecks) -> None:
    # A backlog of three batches; the pod is told to stop while the first goes out.
    for document_type in ("a", "b", "c", "d", "e", "f"):
        request(checks, document_type)
    broker = FakeKafka()
    relay = relay_for(checks, broker, batch_size=2)

    async def publish_then_stop(topic: str, events: Sequence[c.CloudEvent]) -> None:
        relay.stop()
        await broker.publish(topic, events)

    relay.publish = publish_then_stop
    await asyncio.wait_for(relay.run(), timeout=30)

    # The batch in hand was published and recorded; the rest waits for the next relay.
    head = checks.recorder.max_notification_id()
    assert len(broker.batches) == 1
    assert relay.position() == 2
    assert head is not None and relay.backlog() == head - 2 > 0


async def test_the_backlog_gauge_keeps_counting_while_kafka_is_down(
    checks: DossierChecks,
) -> None:
    from servicekit import metrics

    broker = FakeKafka()
    broker.down = True
    relay = relay_for(checks, broker, backlog_interval=0.01)
    gauge = metrics.RELAY_BACKLOG.labels(kafka.PUBLISHES)
    gauge.set(0)  # what a relay that published last time left
    running = asyncio.create_task(relay.run())

    async def gauge_shows(expected: int) -> None:
        for _ in range(500):
            if gauge._value.get() == expected:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"gauge {gauge._value.get()}, not {expected}")

    try:
        # Requests are stored while every publish fails: the gauge counts them as they come.
        request(checks)
        await gauge_shows(checks.recorder.max_notification_id())
        request(checks, "werkgeversverklaring")
        await gauge_shows(checks.recorder.max_notification_id())
        assert broker.batches == []
        # Kafka is back: the relay catches up and the gauge falls to 0.
        broker.down = False
        await gauge_shows(0)
    finally:
        relay.stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def test_the_relay_keeps_an_owner_not_the_creation_event_it_came_from() -> None:
    from types import SimpleNamespace

    from servicekit.outbox import Owner, SeenAggregates

    check = DossierCheck(OFFICE, DOSSIER)
    (created,) = check.collect_events()
    seen = SeenAggregates(owners=2)
    seen.saw(created)
    store = SimpleNamespace(repository=SimpleNamespace(get=lambda *a, **k: pytest.fail("read")))
    assert seen._owners[check.id] == Owner(OFFICE, DOSSIER)  # the owner only, a tuple of two
    assert seen.owner(store, created) == Owner(OFFICE, DOSSIER)  # type: ignore[arg-type]
    # Two more aggregates: the first one seen is forgotten (at most ``owners`` kept).
    for dossier in ("d-2", "d-3"):
        (other,) = DossierCheck(OFFICE, dossier).collect_events()
        seen.saw(other)
    assert check.id not in seen._owners and len(seen._owners) == 2
