"""Publishing to Kafka through FastStream, the one producer of every service; reading a whole
topic to its end (``TopicReader``, for operations and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAuthorizationFailedError,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from servicekit.kafkaclient import KafkaConnection, client_options, faststream_security
from shared.events.codec import encode, events_of
from shared.events.contracts import CloudEvent

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


@functools.lru_cache(maxsize=10_000)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_of(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's (and Java's) default partitioner, with each key's murmur2 hash kept: one
    dossier's events share a key, and the pure-Python hash was 2 % of a dossier check's CPU."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(bytes(key)) % len(all_partitions)]


def make_broker(kafka: KafkaConnection | str, *, idempotence: bool) -> KafkaBroker:
    """A FastStream broker that waits for all in-sync replicas (idempotent where supported),
    connected as ``servicekit.kafkaclient`` says. (FastStream is imported here: a reader of a
    topic, ``TopicReader``, starts without it.)"""
    from faststream.kafka import KafkaBroker

    return KafkaBroker(
        client_options(kafka)["bootstrap_servers"],
        security=faststream_security(kafka),
        enable_idempotence=idempotence,
        acks="all",
        partitioner=partition_of,
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


class KafkaRefused(PermissionError):
    """The broker's ACLs refused an operation on a topic; the message names both."""

    def __init__(self, principal: str, operation: str, topic: str) -> None:
        super().__init__(
            f"Kafka refused {operation} on topic {topic} for {principal}: the ACLs do not allow "
            f"it (a service writes only its own topics and dead letters; see the KafkaUsers)"
        )
        self.operation = operation
        self.topic = topic


@contextlib.contextmanager
def write_refusals(topic: str, principal: str) -> Iterator[None]:
    """An ACL refusal of a write as `KafkaRefused`, logged once as an ERROR line: the caller
    (the relay, a dead-letter writer) retries as after any failure, and the service carries on."""
    try:
        yield
    except TopicAuthorizationFailedError:
        refused = KafkaRefused(principal, "WRITE", topic)
        log.error("%s", refused)
        raise refused from None


class Publisher:
    """Sends integration events and dead letters; returns only once Kafka acknowledged them.

    ``principal`` (``KafkaConnection.principal``) names who writes in the message of a refusal.
    """

    def __init__(self, broker: KafkaBroker, *, principal: str = "ANONYMOUS") -> None:
        self.broker = broker
        self.principal = principal
        self._reset_lock = asyncio.Lock()

    async def publish_events(self, topic: str, events: Sequence[CloudEvent]) -> None:
        with write_refusals(topic, self.principal):
            await self._publish_events(topic, events)

    async def _publish_events(self, topic: str, events: Sequence[CloudEvent]) -> None:
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
            with write_refusals(topic, self.principal):
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


def tracking_name(topic: str, partition: int) -> str:
    """Whose position a tracking row keeps: one partition of a topic (the consumers' and a
    replay's)."""
    return f"{topic}:{partition}"


class UnknownTopic(LookupError):
    """The topic to read does not exist on the broker."""


class TopicReader:
    """Every partition of one topic, read from its beginning (or, with ``group_id``, from the
    offsets that group committed), in batches up to the partitions' ends.

    ``async with TopicReader(servers, topic) as reader: async for tp, records in
    reader.batches(): ...``; ``fetch`` polls once, for a reader waiting for something to arrive.
    """

    def __init__(
        self, kafka: KafkaConnection | str, topic: str, *, group_id: str | None = None
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self.consumer = AIOKafkaConsumer(
            **client_options(kafka),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        try:
            # partitions_for_topic() only knows subscribed topics; ask the cluster instead.
            metadata = await self.consumer._client.fetch_all_metadata()
            partitions = metadata.partitions_for_topic(self.topic)
            if not partitions:
                raise UnknownTopic(f"topic {self.topic} does not exist")
            self.partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            self.consumer.assign(self.partitions)
            if self.group_id is None:
                await self.consumer.seek_to_beginning(*self.partitions)
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.consumer.stop()

    async def remaining(self) -> int:
        """How many records lie between the positions and the partitions' ends."""
        ends = await self.consumer.end_offsets(self.partitions)
        return sum([ends[tp] - await self.consumer.position(tp) for tp in self.partitions])

    async def fetch(self, timeout_ms: int = 200) -> list[ConsumerRecord[Any, Any]]:
        """What one poll of every partition brings (possibly nothing)."""
        batches = await self.consumer.getmany(timeout_ms=timeout_ms)
        return [record for records in batches.values() for record in records]

    async def batches(
        self, timeout_ms: int = 500
    ) -> AsyncIterator[tuple[TopicPartition, list[ConsumerRecord[Any, Any]]]]:
        """The records of each partition up to its end as of this call, one fetched batch of one
        partition at a time, in offset order within a partition."""
        ends = await self.consumer.end_offsets(self.partitions)
        pending = {tp for tp in self.partitions if await self.consumer.position(tp) < ends[tp]}
        while pending:
            fetched = await self.consumer.getmany(*pending, timeout_ms=timeout_ms)
            for tp, records in fetched.items():
                before_end = [record for record in records if record.offset < ends[tp]]
                if before_end:
                    yield tp, before_end
            for tp in list(pending):
                if await self.consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)

    async def to_end(self) -> list[ConsumerRecord[Any, Any]]:
        """Every record up to the partitions' ends as of this call."""
        return [record async for _, records in self.batches() for record in records]
