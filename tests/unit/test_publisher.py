"""Story: after a broker restart the idempotent producer's sequence is lost; the publisher
replaces its producer, so that the outbox relay's next attempt goes through."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from servicekit.kafka import Publisher
from shared.events import contracts as c
from shared.events.codec import new_event


class BrokerWhoseProducerLostItsSequence:
    """A stand-in for FastStream's broker: sends fail until it was stopped and started again."""

    def __init__(self) -> None:
        self.restarts = 0
        self.sent: list[bytes] = []

    async def publish(self, value: bytes, topic: str, **_: Any) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.restarts == 0:
            future.set_exception(OutOfOrderSequenceNumber())
        else:
            self.sent.append(value)
            future.set_result(None)
        return future

    async def stop(self) -> None:
        pass

    async def start(self) -> None:
        self.restarts += 1


async def test_a_producer_state_error_replaces_the_producer_and_the_retry_succeeds() -> None:
    broker = BrokerWhoseProducerLostItsSequence()
    publisher = Publisher(broker)  # type: ignore[arg-type]
    event = new_event(
        c.ProductCreated,
        {"product_id": "p1", "product_type": "hypotheek"},
        source="test",
        tenant="kantoor-1",
        dossier="dossier-1",
    )

    # The first attempt fails, and the producer is replaced ...
    with pytest.raises(OutOfOrderSequenceNumber):
        await publisher.publish_events("platform.products.v1", [event])
    assert broker.restarts == 1
    # ... so the relay's next attempt publishes the batch.
    await publisher.publish_events("platform.products.v1", [event])
    assert len(broker.sent) == 1


def test_the_partitioner_puts_each_key_where_the_java_client_would() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from servicekit.kafka import partition_of

    partitions = list(range(12))
    for index in range(2_000):
        key = f"kantoor-{index % 7}:dossier-{index}".encode()
        expected = DefaultPartitioner()(key, partitions, partitions)
        assert partition_of(key, partitions, partitions) == expected
        assert partition_of(key, partitions, partitions) == expected  # kept: the same again
    assert partition_of(None, [0, 1, 2], [1]) == 1
