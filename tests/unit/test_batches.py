"""A consumed batch in one transaction: the good records once, the poison one dead-lettered.

The tracking consumer applies the records of a fetched partition batch with one store
transaction and the position of the last of them. These stories hand it batches as Kafka would
(records of one partition, in offset order), with a record in the middle that must not be
accepted, and a second delivery of the same batch after a rebalance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking

from servicekit.consumer import DeadLetters, TrackingConsumer
from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.domainmodel import document_id_for
from services.portal_projection import kafka as portal_kafka
from services.portal_projection.views import PortalView
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import Scenarios
from services.scenario_service.domainmodel import DocumentList
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from shared.events.native import NATIVE, decode_fast
from tests.unit.kafka_edge import NOW, OFFICE, FakeDLQ, Positions

MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


class Spy:
    """A batch handler that tells how many events each transaction was given."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.sizes: list[int] = []

    def __call__(self, events: Sequence[c.CloudEvent], tracking: Tracking) -> None:
        self.sizes.append(len(events))
        self.handler(events, tracking)


def consumer_of(topic: str, handlers: Any, batch: Any, positions: Any, dlq: FakeDLQ) -> Any:
    return TrackingConsumer(
        name="actiepunten.test",
        kafka="unused:9092",  # process_batch() never talks to Kafka
        group_id="test",
        topics=[topic],
        handlers=handlers,
        positions=positions,
        dead_letters=DeadLetters(dlq, topics.DOSSIERCONTROLE_DLQ, "actiepunten.test"),
        batch_handler=batch,
    )


def record(topic: str, offset: int, value: bytes, key: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic,
        partition=0,
        offset=offset,
        value=value,
        key=key,
        timestamp=1_741_597_200_000,
        headers=(),
    )


def requested(request_id: UUID, dossier: str, document_type: str) -> SimpleNamespace:
    event = new_event(
        c.DocumentRequested,
        {
            "request_id": request_id,
            "dossier_id": dossier,
            "subject": MORTGAGE,
            "document_type": document_type,
            "source": "scenario",
            "requested_by": "adviseur-1",
        },
        source="actiepunten/scenario_service",
        tenant=OFFICE,
        dossier=dossier,
    )
    return SimpleNamespace(value=encode(event), key=event.key)


def scenario_records(values: Sequence[SimpleNamespace | bytes]) -> list[SimpleNamespace]:
    return [
        record(
            topics.SCENARIO,
            offset,
            value if isinstance(value, bytes) else value.value,
            f"{OFFICE}:dossier-1".encode() if isinstance(value, bytes) else value.key,
        )
        for offset, value in enumerate(values)
    ]


def documents(checks: DossierChecks, dossier: str) -> list[str]:
    return sorted(
        d.document_type for d in checks.get_dossier_check(OFFICE, dossier).documents.values()
    )


async def test_a_batch_with_an_unreadable_record_in_the_middle_applies_the_rest_once(
    checks: DossierChecks,
) -> None:
    dlq = FakeDLQ()
    spy = Spy(dossiercontrole_kafka.batch_handler(checks, now=lambda: NOW))
    consumer = consumer_of(
        topics.SCENARIO,
        dossiercontrole_kafka.handlers(checks, now=lambda: NOW),
        spy,
        checks,
        dlq,
    )
    # Five records of one partition: two requests, a record that is no event, two more.
    batch = scenario_records(
        [
            requested(uuid4(), "dossier-1", "identiteitsbewijs"),
            requested(uuid4(), "dossier-2", "loonstrook"),
            b"\x00not an event",
            requested(uuid4(), "dossier-1", "werkgeversverklaring"),
            requested(uuid4(), "dossier-2", "jaaropgave"),
        ]
    )

    done = await consumer.process_batch(batch)

    # The two before it in one transaction, the poison record dead-lettered, the two after it
    # in another.
    assert done == 5
    assert spy.sizes == [2, 2]
    (letter,) = dlq.letters
    assert letter["body"]["origin"]["offset"] == 2
    assert letter["body"]["reason"].startswith("not JSON")
    assert documents(checks, "dossier-1") == ["identiteitsbewijs", "werkgeversverklaring"]
    assert documents(checks, "dossier-2") == ["jaaropgave", "loonstrook"]
    assert checks.max_tracking_id(f"{topics.SCENARIO}:0") == 5

    # Kafka delivers the same batch again after a rebalance: nothing changes.
    head = checks.recorder.max_notification_id()
    assert await consumer.process_batch(batch) == 5
    assert checks.recorder.max_notification_id() == head
    assert len(dlq.letters) == 1


async def test_a_request_refused_in_the_middle_of_a_batch_is_dead_lettered_and_the_rest_added(
    checks: DossierChecks,
) -> None:
    dlq = FakeDLQ()
    spy = Spy(dossiercontrole_kafka.batch_handler(checks, now=lambda: NOW))
    handlers = dossiercontrole_kafka.handlers(checks, now=lambda: NOW)
    consumer = consumer_of(topics.SCENARIO, handlers, spy, checks, dlq)
    reused = uuid4()
    # The third request reuses the id of the first for another dossier: readable, but refused
    # only by the dossier check itself, so the batch fails as a whole at first.
    batch = scenario_records(
        [
            requested(reused, "dossier-1", "identiteitsbewijs"),
            requested(uuid4(), "dossier-1", "loonstrook"),
            requested(reused, "dossier-2", "jaaropgave"),
            requested(uuid4(), "dossier-2", "werkgeversverklaring"),
        ]
    )

    assert await consumer.process_batch(batch) == 4

    # Nothing of the failed transaction stayed; one record at a time added the three good
    # requests once and dead-lettered the refused one with the dossier check's reason.
    assert spy.sizes == [4]
    (letter,) = dlq.letters
    assert letter["body"]["origin"]["offset"] == 2
    assert "already added to another dossier" in letter["body"]["reason"]
    assert documents(checks, "dossier-1") == ["identiteitsbewijs", "loonstrook"]
    assert documents(checks, "dossier-2") == ["werkgeversverklaring"]
    (first,) = [
        d
        for d in checks.get_dossier_check(OFFICE, "dossier-1").documents.values()
        if d.document_type == "identiteitsbewijs"
    ]
    assert first.document_id == document_id_for(reused)
    assert checks.max_tracking_id(f"{topics.SCENARIO}:0") == 4

    head = checks.recorder.max_notification_id()
    assert await consumer.process_batch(batch) == 4
    assert checks.recorder.max_notification_id() == head
    assert len(dlq.letters) == 1


def opened(dossier: str) -> c.CloudEvent:
    return new_event(
        c.ActionPointOpened,
        {
            "action_point_id": uuid4(),
            "document_id": uuid4(),
            "dossier_id": dossier,
            "subject": MORTGAGE,
            "document_type": "identiteitsbewijs",
            "title": "Identiteitsbewijs",
            "opened_at": NOW,
        },
        source=dossiercontrole_kafka.SOURCE,
        tenant=OFFICE,
        dossier=dossier,
    )


def configured() -> c.CloudEvent:
    return new_event(
        c.DocumentTypeConfigured,
        {"code": "loonstrook", "name": "Loonstrook", "creates_action_point": True},
        source=dossiercontrole_kafka.SOURCE,
        tenant=OFFICE,
    )


async def test_the_portal_applies_a_batch_once_and_dead_letters_a_record_filed_under_another_key(
    tmp_path: Path,
) -> None:
    view = PortalView(tmp_path / "portal.sqlite")
    try:
        dlq = FakeDLQ()
        spy = Spy(portal_kafka.batch_handler(view))
        consumer = consumer_of(topics.DOSSIERCONTROLE, portal_kafka.handlers(view), spy, view, dlq)
        # The dossier check's topic also carries facts the portal does not handle (a document
        # type configured): those are covered by the batch's position, they do not cut it.
        events = [
            opened("dossier-1"),
            configured(),
            opened("dossier-2"),
            opened("dossier-3"),
            opened("dossier-1"),
        ]
        keys = [e.key for e in events]
        keys[3] = f"{OFFICE}:dossier-1".encode()  # dossier-3's fact filed under dossier-1
        batch = [
            record(topics.DOSSIERCONTROLE, offset, encode(event), key)
            for offset, (event, key) in enumerate(zip(events, keys, strict=True))
        ]

        assert await consumer.process_batch(batch) == 5
        assert await consumer.process_batch(batch) == 5  # delivered again

        assert spy.sizes == [2, 1]
        (letter,) = dlq.letters
        assert "does not match" in letter["body"]["reason"]
        assert len(view.action_points(OFFICE, "dossier-1")) == 2
        assert len(view.action_points(OFFICE, "dossier-2")) == 1
        assert view.action_points(OFFICE, "dossier-3") == []
        assert view.max_tracking_id(f"{topics.DOSSIERCONTROLE}:0") == 5
        assert letter["body"]["origin"]["offset"] == 3
    finally:
        view.close()


def document_list(reference: str, dossier: str, *document_types: str) -> SimpleNamespace:
    event = new_event(
        c.DocumentListReceived,
        {
            "subject": MORTGAGE,
            "reference": reference,
            "items": [{"document_type": document_type} for document_type in document_types],
        },
        source="platform/lender",
        tenant=OFFICE,
        dossier=dossier,
    )
    return SimpleNamespace(value=encode(event), key=event.key)


def list_records(values: Sequence[SimpleNamespace], first: int = 0) -> list[SimpleNamespace]:
    return [
        record(topics.DOCUMENT_LISTS, offset, value.value, value.key)
        for offset, value in enumerate(values, start=first)
    ]


class CountingPositions:
    """The application as a position store, counting how often the consumer asks it."""

    def __init__(self, app: Scenarios) -> None:
        self.app = app
        self.reads = 0

    def max_tracking_id(self, name: str) -> int | None:
        self.reads += 1
        return self.app.max_tracking_id(name)

    def has_tracked(self, tracking: Tracking) -> bool:
        return self.app.has_tracked(tracking)

    def record_tracking(self, tracking: Tracking) -> None:
        self.app.record_tracking(tracking)


def list_consumer(scenarios: Scenarios, spy: Spy, positions: Any, dlq: FakeDLQ) -> Any:
    consumer = consumer_of(
        topics.DOCUMENT_LISTS, scenario_kafka.handlers(scenarios), spy, positions, dlq
    )
    consumer.batch_types = scenario_kafka.BATCHED
    return consumer


async def test_document_lists_are_received_a_batch_at_a_time_and_a_conflicting_one_dead_lettered(
    scenarios: Scenarios,
) -> None:
    dlq = FakeDLQ()
    spy = Spy(scenario_kafka.batch_handler(scenarios))
    consumer = list_consumer(scenarios, spy, scenarios, dlq)
    # A list, another, the first again (a repeat), and another list under the first's reference.
    batch = list_records(
        [
            document_list("lender-1", "dossier-1", "taxatierapport", "koopakte"),
            document_list("lender-2", "dossier-2", "loonstrook"),
            document_list("lender-1", "dossier-1", "taxatierapport", "koopakte"),
            document_list("lender-1", "dossier-1", "jaaropgave"),
        ]
    )

    assert await consumer.process_batch(batch) == 4

    # The conflict failed the batch; one at a time stored both lists once and dead-lettered it.
    assert spy.sizes == [4]
    (letter,) = dlq.letters
    assert letter["body"]["origin"]["offset"] == 3
    assert "lender-1" in letter["body"]["reason"]
    first = scenarios.repository.get(DocumentList.create_id(OFFICE, "lender-1"))
    assert [item["document_type"] for item in first.items] == ["taxatierapport", "koopakte"]
    assert scenarios.repository.get(DocumentList.create_id(OFFICE, "lender-2")).version == 1
    assert scenarios.max_tracking_id(f"{topics.DOCUMENT_LISTS}:0") == 4

    # The next batch, with a list and its repeat, is one transaction.
    head = scenarios.recorder.max_notification_id()
    more = list_records([document_list("lender-3", "dossier-3", "paspoort")] * 2, first=4)
    assert await consumer.process_batch(more) == 6
    assert spy.sizes == [4, 2]
    assert scenarios.recorder.max_notification_id() == (head or 0) + 1


async def test_the_position_is_kept_between_batches_and_a_batch_another_replica_stored_is_refused(
    scenarios: Scenarios,
) -> None:
    dlq = FakeDLQ()
    spy = Spy(scenario_kafka.batch_handler(scenarios))
    positions = CountingPositions(scenarios)
    consumer = list_consumer(scenarios, spy, positions, dlq)
    lists = [document_list(f"lender-{i}", f"dossier-{i}", "paspoort") for i in range(6)]

    assert await consumer.process_batch(list_records(lists[:2])) == 2
    assert await consumer.process_batch(list_records(lists[2:4], first=2)) == 4
    # The store was asked for the position once: the second batch started where the first ended.
    assert positions.reads == 1
    assert spy.sizes == [2, 2]

    # Another replica (a rebalance this one has not heard of yet) stored the next two records.
    other = Spy(scenario_kafka.batch_handler(scenarios))
    assert (
        await list_consumer(scenarios, other, scenarios, dlq).process_batch(
            list_records(lists[4:], first=4)
        )
        == 6
    )
    head = scenarios.recorder.max_notification_id()

    # The same records reach this one too: its batch is refused by the tracking row, and one
    # at a time finds each of them done already.
    assert await consumer.process_batch(list_records(lists[4:], first=4)) == 6
    assert spy.sizes == [2, 2, 2]
    assert scenarios.recorder.max_notification_id() == head
    assert scenarios.max_tracking_id(f"{topics.DOCUMENT_LISTS}:0") == 6
    assert dlq.letters == []


async def test_a_record_of_a_type_outside_the_batched_ones_is_handled_alone() -> None:
    handled: list[tuple[str, int]] = []

    def one(event: c.CloudEvent, tracking: Tracking) -> None:
        handled.append((event.type, tracking.notification_id))

    spy = Spy(lambda events, tracking: handled.append(("batch", tracking.notification_id)))
    positions = Positions()
    consumer = consumer_of(
        topics.DOCUMENT_LISTS, {"DocumentListReceived": one}, spy, positions, FakeDLQ()
    )
    consumer.batch_types = frozenset({"SomethingElse"})
    batch = list_records([document_list(f"l-{i}", "dossier-1", "paspoort") for i in range(2)])

    assert await consumer.process_batch(batch) == 2
    assert spy.sizes == []
    assert handled == [("DocumentListReceived", 1), ("DocumentListReceived", 2)]


async def test_a_portal_batch_whose_position_another_replica_stored_is_not_applied_again(
    tmp_path: Path,
) -> None:
    view = PortalView(tmp_path / "portal.sqlite")
    try:
        spy = Spy(portal_kafka.batch_handler(view))
        consumer = consumer_of(
            topics.DOSSIERCONTROLE, portal_kafka.handlers(view), spy, view, FakeDLQ()
        )
        events = [opened("dossier-1"), opened("dossier-1"), opened("dossier-1")]
        batch = [
            record(topics.DOSSIERCONTROLE, offset, encode(event), event.key)
            for offset, event in enumerate(events)
        ]
        assert await consumer.process_batch(batch[:1]) == 1
        # Another replica applied the next two records; this one still knows position 1.
        view.process_many(events[1:], Tracking(f"{topics.DOSSIERCONTROLE}:0", 3))

        assert await consumer.process_batch(batch[1:2]) == 2

        # Refused by the stored position: nothing applied twice, and the position read again.
        assert spy.sizes == [1, 1]
        assert len(view.action_points(OFFICE, "dossier-1")) == 3
        assert view.max_tracking_id(f"{topics.DOSSIERCONTROLE}:0") == 3
        assert await consumer.process_batch(batch[2:]) == 3
        assert spy.sizes == [1, 1]
    finally:
        view.close()


async def test_the_portal_reads_its_batches_natively_with_each_events_own_span(
    tmp_path: Path,
) -> None:
    # The portal's consumer decodes a batch natively (native.decode_fast, as its replay does);
    # with tracing on, each event is given its own consumer span's traceparent (model_copy).
    view = PortalView(tmp_path / "portal.sqlite")
    try:
        seen: list[Any] = []

        def handler(events: Sequence[Any], tracking: Tracking) -> None:
            seen.extend(events)
            portal_kafka.batch_handler(view)(events, tracking)

        consumer = consumer_of(
            topics.DOSSIERCONTROLE, portal_kafka.handlers(view), handler, view, FakeDLQ()
        )
        consumer.batch_decode = decode_fast
        events = [opened("dossier-1"), configured(), opened("dossier-2")]
        batch = [
            record(topics.DOSSIERCONTROLE, offset, encode(event), event.key)
            for offset, event in enumerate(events)
        ]

        assert await consumer.process_batch(batch) == 3

        assert [type(event) for event in seen] == [NATIVE["ActionPointOpened"]] * 2
        span = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        assert seen[0].model_copy(update={"traceparent": span}).traceparent == span
        assert len(view.action_points(OFFICE, "dossier-1")) == 1
        assert len(view.action_points(OFFICE, "dossier-2")) == 1
    finally:
        view.close()
