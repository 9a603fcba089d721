"""The tracking consumer: what becomes of each record (handled once, skipped or dead-lettered)."""

from __future__ import annotations

import json

import pytest

from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import DefineScenario, Scenarios
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.unit.kafka_edge import (
    DOSSIER,
    ID_CARD,
    NOW,
    OFFICE,
    FakeDLQ,
    Positions,
    consumer_with,
    record,
)


async def test_a_product_event_is_handled_once_and_its_position_recorded(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Hyp", "hypotheek", [ID_CARD], {"event": "product_created"}, "admin-1"
        )
    )
    dlq = FakeDLQ()
    consumer = consumer_with(
        scenario_kafka.handlers(scenarios, now=lambda: NOW),
        scenarios,
        dlq,
    )
    created = new_event(
        c.ProductCreated,
        {"product_id": "hyp-1", "product_type": "hypotheek"},
        source="platform/crm",
        tenant=OFFICE,
        dossier=DOSSIER,
    )

    # Kafka delivers it, then redelivers it after a rebalance.
    await consumer.process(record(encode(created)))
    head = scenarios.recorder.max_notification_id()
    await consumer.process(record(encode(created)))

    assert scenarios.max_tracking_id("platform.products.v1:0") == 42
    assert scenarios.recorder.max_notification_id() == head
    assert dlq.letters == []


async def test_a_record_that_is_not_an_event_goes_to_the_dlq_and_the_consumer_moves_on() -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)

    await consumer.process(record(b"\x00garbage"))

    (letter,) = dlq.letters
    assert letter["topic"] == topics.SCENARIO_DLQ
    assert letter["body"]["reason"].startswith("not JSON:")
    assert letter["body"]["origin"] == {
        "topic": topics.PRODUCTS,
        "partition": 0,
        "offset": 41,
        "timestamp": 1_741_597_200_000,
        "key": f"{OFFICE}:{DOSSIER}",
        "retry_of": None,
    }
    assert positions.max_tracking_id("platform.products.v1:0") == 42


async def test_an_unknown_event_type_is_skipped_without_a_dead_letter() -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)
    event = json.loads(
        encode(
            new_event(
                c.ProductCreated,
                {"product_id": "hyp-1", "product_type": "hypotheek"},
                source="platform/crm",
                tenant=OFFICE,
                dossier=DOSSIER,
            )
        )
    )
    event["type"] = "ProductArchived"

    await consumer.process(record(json.dumps(event).encode()))

    assert dlq.letters == []
    assert positions.max_tracking_id("platform.products.v1:0") == 42


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "not JSON: nested too deeply"),
        (b'{"dataversion": 1' + b"0" * 5000 + b"}", "not JSON: Exceeds the limit (4300 digits)"),
    ],
    ids=["nested-too-deeply", "5000-digit-number"],
)
async def test_a_poison_record_goes_to_the_dlq_instead_of_crashing_the_consumer(
    poison: bytes, reason: str
) -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)

    # A few kilobytes the codec refuses as not an event ...
    await consumer.process(record(poison))

    # ... are dead-lettered with that reason, and the partition moves on.
    (letter,) = dlq.letters
    assert letter["body"]["reason"].startswith(reason)
    assert positions.max_tracking_id("platform.products.v1:0") == 42


def test_the_lag_series_of_revoked_partitions_are_removed() -> None:
    from aiokafka import TopicPartition
    from prometheus_client import REGISTRY

    from servicekit import metrics
    from servicekit.consumer import forget_lag

    topic = "actiepunten.lagtest.v1"
    for partition in (0, 1):
        metrics.CONSUMER_LAG.labels(topic, str(partition)).set(40)

    # A rebalance takes partition 1 to another replica, which reports its lag from now on.
    forget_lag({TopicPartition(topic, 1)})

    def lag(partition: int) -> float | None:
        return REGISTRY.get_sample_value(
            "actiepunten_consumer_lag", {"topic": topic, "partition": str(partition)}
        )

    assert (lag(0), lag(1)) == (40, None)
    forget_lag({TopicPartition(topic, 1)})  # a partition with no series: nothing to do
