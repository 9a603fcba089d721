"""Publishing to Kafka through FastStream, the one producer of every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from faststream.kafka import KafkaBroker

from shared.events.codec import encode, events_of
from shared.events.contracts import CloudEvent

log = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def make_broker(bootstrap_servers: str, *, idempotence: bool) -> KafkaBroker:
    """A FastStream broker that waits for all in-sync replicas (idempotent where supported)."""
    return KafkaBroker(
        bootstrap_servers,
        enable_idempotence=idempotence,
        acks="all",
        logger=None,
    )


# An idempotent producer's sequence state does not survive everything (a broker restart that
# lost the producer's state, say): from then on every send fails until the producer is replaced.
PRODUCER_STATE_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)


def _headers(event: CloudEvent) -> dict[str, str]:
    headers = {"content-type": CLOUDEVENTS_CONTENT_TYPE}
    if event.traceparent:
        headers["traceparent"] = event.traceparent  # W3C trace context, for any Kafka tooling
    return headers


class Publisher:
    """Sends integration events and dead letters; returns only once Kafka acknowledged them."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker
        self._reset_lock = asyncio.Lock()

    async def publish_events(self, topic: str, events: Sequence[CloudEvent]) -> None:
        futures = [
            await self.broker.publish(
                encode(event),
                topic,
                key=event.key,
                headers=_headers(event),
                no_confirm=True,
            )
            for event in events
        ]
        try:
            await asyncio.gather(*futures)
        except PRODUCER_STATE_ERRORS:
            await self.reset()
            raise  # the caller sends the batch again, with the new producer

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        try:
            await self.broker.publish(value, topic, key=key, headers=headers)
        except PRODUCER_STATE_ERRORS:
            await self.reset()
            raise

    async def reset(self) -> None:
        """Replace the producer (a new producer id and fresh sequence numbers)."""
        async with self._reset_lock:
            log.warning("replacing the Kafka producer after a producer-state error")
            await self.broker.stop()
            await self.broker.start()


def declare_consumed(broker: KafkaBroker, topic: str, *, group_id: str, service: str) -> None:
    """Declare ``topic`` as consumed, with its events' schema, for the AsyncAPI document only.

    ``broker`` must be one that is never started: FastStream would consume with it. The
    service's own ``TrackingConsumer`` reads the topic, seeking to the positions it stored.
    """

    async def consumed(event: Any) -> None:  # FastStream documents the handler's parameter
        raise RuntimeError(f"{topic} is consumed by the tracking consumer, not FastStream")

    consumed.__annotations__ = {"event": events_of(topic), "return": None}
    broker.subscriber(
        topic,
        group_id=group_id,
        title=topic,
        description=f"Consumed by the {service} service (consumer group {group_id})",
    )(consumed)


def asyncapi_document(*brokers: KafkaBroker, title: str) -> dict[str, Any]:
    """The AsyncAPI document FastStream generates from the brokers' declared publishers and
    subscribers."""
    from faststream.specification import AsyncAPI

    spec = AsyncAPI(*brokers, title=title, schema_version="3.0.0")
    return spec.to_specification().to_jsonable()  # type: ignore[no-any-return]
