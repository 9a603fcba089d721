"""The tracking consumer: exactly-once in effect on top of Kafka's at-least-once delivery.

Each record's position is stored as ``Tracking("<topic>:<partition>", offset + 1)`` in the same
transaction as what processing it produced (aggregate events or view rows). On assignment the
consumer seeks every partition to its own recorded position, so restarts, rebalances and
redeliveries never apply a record twice; Kafka's committed offsets are only kept for lag metrics.

Records that are not events, or known events that fail validation, go to the service's DLQ topic
with the reason and origin; unknown types are skipped; a transient failure (the store is down) is
retried until it succeeds, never dead-lettered.

Batches: a service may also give a ``BatchHandler``. The consumer then applies the good records of
a fetched partition batch in one transaction, with the tracking position of the last of them
(``offset + 1``): the records before it are covered by that position, so a crash before the
commit leaves the whole batch to do again and one after it leaves nothing. A record that cannot be
decoded or has the wrong key cuts the batch (one of a type the service does not handle is just
covered by the batch's position): the prefix before it is applied as one
transaction, the record is dead-lettered or skipped with its own position, and the rest goes on.
When a batch fails in its handler (a record it rejects, a concurrency conflict, the store away),
nothing of it was stored: its records are processed again one at a time, as without a batch.
A service's ``BATCHED`` may name the types its batch handler takes; a record of another type is
handled alone. Between its own batches of a partition the consumer keeps the position it
stored (read from the store again on assignment and after anything but a whole batch): a batch
that another replica stored meanwhile is still refused by the tracking row, which takes only a
higher position, and one record at a time then finds each record done.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from eventsourcing.persistence import Notification, Tracking

from servicekit import metrics, tracing
from servicekit.eventstore import AggregateOfAnotherOffice
from servicekit.failures import Disposition, Refused, classify, describe, is_transient
from servicekit.kafka import Publisher, tracking_name
from servicekit.kafkaclient import KafkaConnection, client_options
from servicekit.retry import Backoff, retry
from shared.events.codec import CodecError, UnknownEventType, decode
from shared.events.contracts import CloudEvent

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, Tracking], None]
"""Processes one event and stores ``tracking`` in the same transaction as its effects."""

BatchHandler = Callable[[Sequence[CloudEvent], Tracking], None]
"""Processes several events, in order, and stores ``tracking`` (the position after the last) in
the same transaction as all their effects; raises, storing nothing, when any of them fails."""

Opener = Callable[[Sequence[CloudEvent]], Awaitable[list[CloudEvent]]]
"""The events with their sealed personal fields opened (``servicekit.keyclient``)."""

MAX_CONFLICTS = 25
LAG_INTERVAL = 2.0  # seconds between measurements of the consumer lag


class Rejected(Refused):
    """Raised by a handler for an event that is valid but cannot be accepted: dead-lettered."""


class PositionStore(Protocol):
    def max_tracking_id(self, name: str) -> int | None: ...

    def has_tracked(self, tracking: Tracking) -> bool: ...

    def record_tracking(self, tracking: Tracking) -> None: ...


RETRY_HEADER = "actiepunten-retry-of"


def retry_of(record: Any) -> str | None:
    for key, value in record.headers or ():
        if key == RETRY_HEADER:
            return bytes(value).decode("utf-8", "replace")
    return None


class DeadLetters:
    """Writes what a service could not accept, or not publish, to its DLQ topic: JSON with the
    reason, where it came from, and the original value where there is one."""

    def __init__(self, publisher: Publisher, topic: str, consumer_name: str) -> None:
        self.publisher = publisher
        self.topic = topic
        self.consumer_name = consumer_name

    def _letter(
        self, reason: str, origin: dict[str, Any], encoding: str, value: Any
    ) -> dict[str, Any]:
        return {
            "reason": reason,
            "consumer": self.consumer_name,
            "failed_at": datetime.now(UTC).isoformat(),
            "origin": origin,
            "value_encoding": encoding,
            "value": value,
        }

    async def quarantine(self, notification: Notification, reason: str) -> None:
        """A stored event of the service's own that no contract can carry (see the outbox)."""
        origin = {
            "store": self.consumer_name,
            "notification_id": notification.id,
            "stored_topic": notification.topic,
        }
        letter = self._letter(reason, origin, "omitted (stored event)", None)
        await self.publisher.publish_raw(
            self.topic,
            json.dumps(letter).encode(),
            key=None,
            headers={"reason": reason[:500], "origin-store": self.consumer_name},
        )

    async def send(self, record: Any, reason: str) -> None:
        value: bytes | None = record.value
        try:
            original: Any = json.loads(value) if value is not None else None
            encoding = "json"
        except (ValueError, RecursionError):  # not JSON, absurd numbers, absurd nesting
            original = value.decode("latin-1") if value is not None else None
            encoding = "latin-1"
        origin = {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": record.key.decode("utf-8", "replace") if record.key else None,
            # Set when the record was itself sent back by `actiepunten dlq retry`.
            "retry_of": retry_of(record),
        }
        letter = self._letter(reason, origin, encoding, original)
        body = json.dumps(letter, default=str).encode()
        if len(body) > 900_000:  # an oversized record: keep the reason and origin, not the bytes
            letter["value"] = None
            letter["value_encoding"] = "omitted (too large)"
            body = json.dumps(letter, default=str).encode()
        await self.publisher.publish_raw(
            self.topic,
            body,
            key=record.key,
            headers={"reason": reason[:500], "origin-topic": record.topic},
        )
        metrics.EVENTS_DEAD_LETTERED.labels(record.topic).inc()


def forget_lag(partitions: set[TopicPartition]) -> None:
    """Drop the lag series of partitions this replica no longer owns: their new owner reports
    them, and a series left at its last value would add a lag nobody has to every sum."""
    for tp in partitions:
        with contextlib.suppress(KeyError):
            metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))


class _SeekToTrackedPositions(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: TrackingConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.owner.seek_to_tracked(assigned)


class TrackingConsumer:
    """Consumes ``topics`` in a consumer group and hands each event to its handler by type."""

    def __init__(
        self,
        *,
        name: str,
        kafka: KafkaConnection | str,
        group_id: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        positions: PositionStore,
        dead_letters: DeadLetters,
        max_retry_delay: float = 5.0,
        batch_handler: BatchHandler | None = None,
        batch_types: Collection[str] | None = None,
        opener: Opener | None = None,
        batch_decode: Callable[[str, bytes | None], Any] = decode,
    ) -> None:
        """``batch_types``: the event types ``batch_handler`` takes (default: every handled
        type); a record of another type is handled alone, with its own position. ``opener``:
        opens sealed personal fields before a handler sees them (``servicekit.keyclient``).
        ``batch_decode``: how the batch handler's events are read (``native.decode_fast`` for a
        handler that reads natively decoded events as it reads pydantic ones); a record it
        refuses is handled alone, decoded by pydantic, which says why."""
        self.name = name
        self.kafka = kafka
        self.group_id = group_id
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.positions = positions
        self.dead_letters = dead_letters
        self.max_retry_delay = max_retry_delay
        self.batch_handler = batch_handler
        self.batch_types = frozenset(batch_types) if batch_types is not None else None
        self.opener = opener
        self.batch_decode = batch_decode
        # The position each partition's tracking row has after our own last batch: read from
        # the store once per assignment, not once per batch. A batch another replica stored
        # meanwhile (a rebalance we have not heard of yet) is still refused by the row itself.
        self._known_positions: dict[str, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._changes: list[tuple[Callable[[], None], asyncio.Future[None]]] = []
        self._seeking = asyncio.Lock()  # an assignment's seeks and a store change, one at a time
        self._lag_updated = 0.0
        self._stopping = False
        self._uncommitted: dict[TopicPartition, int] = {}
        self._committer: asyncio.Future[None] | None = None

    @property
    def state(self) -> str:
        """``assigned`` (owns partitions), ``joining`` (connected, owns none: its group is
        rebalancing, or it is a replica beyond the partition count), ``connecting``."""
        consumer = self._consumer
        if consumer is None:
            return "connecting"
        return "assigned" if consumer.assignment() else "joining"

    def stop(self) -> None:
        """Finish the record in hand, commit, leave the group and return from ``run``."""
        self._stopping = True

    async def at_batch_boundary(self, change: Callable[[], None]) -> None:
        """Run ``change`` (it replaces the position store) between two batches, then seek every
        owned partition to the new store's positions before fetching again; returns once done.

        Records are fetched for the positions of one store and must all go to that store: the
        rest of a batch handed to a store that is further behind would be accepted (any higher
        position is) and the offsets in between skipped for good.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changes.append((change, done))
        await done

    async def _apply_changes(self, consumer: AIOKafkaConsumer) -> None:
        changes, self._changes = self._changes, []
        async with self._seeking:
            for change, done in changes:
                try:
                    change()
                except Exception as error:
                    if not done.done():
                        done.set_exception(error)
                else:
                    if not done.done():
                        done.set_result(None)
            await self._seek(consumer, consumer.assignment())

    async def seek_to_tracked(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        assert consumer is not None
        async with self._seeking:
            await self._seek(consumer, assigned)

    async def _seek(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            name = tracking_name(tp.topic, tp.partition)
            self._known_positions.pop(name, None)
            position = await self._retrying(self.positions.max_tracking_id, name)
            if position:
                consumer.seek(tp, position)
            else:
                # A store that has seen nothing of this partition must see all of it.
                await consumer.seek_to_beginning(tp)

    async def run(self) -> None:
        """Consume until stopped or cancelled; reconnects when the broker goes away."""
        while not self._stopping:
            consumer = AIOKafkaConsumer(
                **client_options(self.kafka),
                group_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_records=500,
                client_id=self.name,
            )
            self._consumer = consumer
            try:
                consumer.subscribe(self.topics, listener=_SeekToTrackedPositions(self))
                await consumer.start()
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except KafkaError:
                log.exception("%s: Kafka consumer failed; reconnecting", self.name)
                await asyncio.sleep(1.0)
            finally:
                self._consumer = None
                try:
                    await self._last_commit()
                    await consumer.stop()
                except Exception:
                    log.debug("%s: error while stopping the consumer", self.name, exc_info=True)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping:
            if self._changes:
                await self._apply_changes(consumer)
            batch = await consumer.getmany(timeout_ms=500)
            if self._changes:
                continue  # fetched for the positions of a store about to be replaced
            offsets = {}
            for tp, records in batch.items():
                # Revoked mid-batch, or stopping: the rest resumes from our tracking.
                owned = functools.partial(self._owns, consumer, tp)
                done = await self.process_batch(records, owned)
                if done is not None:
                    offsets[tp] = done
            self._commit_behind(consumer, offsets)
            await self._update_lag(consumer)

    def _commit_behind(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]
    ) -> None:
        """Commit ``offsets`` while the next batch is fetched and applied, not before: the
        positions that count are in the store, Kafka's offsets only feed the lag metrics. One
        commit at a time; offsets of batches applied meanwhile go with the next."""
        self._uncommitted.update(offsets)
        if self._uncommitted and (self._committer is None or self._committer.done()):
            self._committer = asyncio.ensure_future(self._commit_uncommitted(consumer))

    async def _last_commit(self) -> None:
        """The offsets of the batches applied are committed (a few seconds at most) before the
        consumer is stopped; past that they are dropped (a new consumer reads the store's
        positions, not these)."""
        committer, self._committer = self._committer, None
        if committer is not None and not committer.done():
            await asyncio.wait([committer], timeout=5.0)
            committer.cancel()
        self._uncommitted.clear()

    async def _commit_uncommitted(self, consumer: AIOKafkaConsumer) -> None:
        while self._uncommitted:
            offsets, self._uncommitted = self._uncommitted, {}
            await self._commit(consumer, offsets)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Kafka's offsets, for the lag metrics only: one request for the fetched batch."""
        offsets = {tp: offset for tp, offset in offsets.items() if tp in consumer.assignment()}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as error:
            log.info("%s: commit of %s skipped: %s", self.name, sorted(offsets), error)

    def _owns(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
        return tp in consumer.assignment() and not self._stopping

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Records behind the end of each owned partition, every few seconds (one request)."""
        now = asyncio.get_running_loop().time()
        if now - self._lag_updated < LAG_INTERVAL:
            return
        self._lag_updated = now
        assigned = list(consumer.assignment())
        if not assigned:
            return
        try:
            ends = await consumer.end_offsets(assigned)
            for tp in assigned:
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(0, ends[tp] - position)
                )
        except (KafkaError, KeyError) as error:
            log.debug("%s: lag not measured: %s", self.name, error)

    async def process_batch(
        self, records: Sequence[Any], owned: Callable[[], bool] = lambda: True
    ) -> int | None:
        """Apply the records of one partition, in order; the offset after the last one done.

        Without a batch handler one record at a time. ``owned`` says whether the partition is
        still ours: once revoked, the new owner resumes from our tracking.
        """
        done: int | None = None
        if self.batch_handler is None:
            for record in records:
                if not owned():
                    break
                await self.process(record)
                done = record.offset + 1
            return done
        if not records:
            return None
        name = tracking_name(records[0].topic, records[0].partition)
        position = self._known_positions.pop(name, None)
        if position is None:
            position = await self._retrying(self.positions.max_tracking_id, name) or 0
        # Records to apply in one transaction: their events, None for one skipped (a type this
        # service does not handle); the batch's position covers those too.
        pending: list[tuple[Any, CloudEvent | None]] = []
        for record in records:
            if not owned():
                return done
            if record.offset + 1 <= position:
                metrics.EVENTS_SKIPPED.labels(record.topic, "already_processed").inc()
                done = record.offset + 1
                continue
            event = self._batchable(record)
            if event is not None:
                pending.append((record, event if event is not _SKIP else None))
                continue
            # A record to dead-letter or skip: what came before it first, as one transaction.
            await self._apply_batch(pending)
            pending = []
            if not owned():
                return done
            await self.process(record)
            done = record.offset + 1
        if pending and owned():
            stored_whole = await self._apply_batch(pending)
            done = pending[-1][0].offset + 1
            if stored_whole:
                # Only a batch stored whole leaves the position known; after anything else (a
                # record alone, one found done already) the next batch reads it again.
                self._known_positions[name] = done
        return done

    def _batchable(self, record: Any) -> CloudEvent | None:
        """The record's event if a handler takes it as it is, ``_SKIP`` for a known type this
        service does not handle; None if it needs ``process`` (to dead-letter or skip it)."""
        try:
            event = self.batch_decode(record.topic, record.value)
        except CodecError:  # UnknownEventType too
            return None
        if record.key != event.key:
            return None
        if event.type not in self.handlers:
            return _SKIP
        if self.batch_types is not None and event.type not in self.batch_types:
            return None
        return event

    async def _apply_batch(self, pending: Sequence[tuple[Any, CloudEvent | None]]) -> bool:
        """True when the handler stored the batch as one transaction, at a position higher
        than the one stored before (False: nothing to apply, or one record at a time)."""
        if not pending:
            return False
        assert self.batch_handler is not None
        last = pending[-1][0]
        tracking = Tracking(tracking_name(last.topic, last.partition), last.offset + 1)
        events = [event for _, event in pending if event is not None]
        traced = [
            (event.type, _cause(record, event)) for record, event in pending if event is not None
        ]
        try:
            if events:
                if self.opener is not None:
                    events = await self.opener(events)
                with tracing.consumer_spans(last.topic, traced) as spans:
                    # Each event carries its own consumer span's context, for its effects.
                    in_spans = [
                        event.model_copy(update={"traceparent": span}) if span else event
                        for event, span in zip(events, spans, strict=True)
                    ]
                    await asyncio.to_thread(self.batch_handler, in_spans, tracking)
            else:
                await asyncio.to_thread(self.positions.record_tracking, tracking)
        except Exception as error:
            # Nothing of the batch was stored: one record at a time finds the one at fault, retries
            # a conflict or waits for the store, each with its own tracking position.
            log.info(
                "%s: batch of %d records failed (%s: %s); one at a time",
                self.name,
                len(pending),
                type(error).__name__,
                error,
            )
            metrics.BATCH_FALLBACKS.labels(last.topic).inc()
            for record, event in pending:
                if event is None:
                    await self.process(record)
                    continue
                one = Tracking(tracking_name(record.topic, record.partition), record.offset + 1)
                if await self._retrying(self.positions.has_tracked, one):
                    metrics.EVENTS_SKIPPED.labels(record.topic, "already_processed").inc()
                    continue
                await self._handle(record, event, self.handlers[event.type], one)
            return False
        for record, event in pending:
            if event is None:
                metrics.EVENTS_SKIPPED.labels(record.topic, "not_handled").inc()
            else:
                metrics.EVENTS_PROCESSED.labels(record.topic, event.type).inc()
        # Only the handler's transaction refuses a position that is not higher than the stored
        # one; ``record_tracking`` lets one through that another replica recorded already.
        return bool(events)

    async def process(self, record: Any) -> None:
        """Apply one record at most once in effect; never raises for a bad record."""
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset + 1)
        if await self._retrying(self.positions.has_tracked, tracking):
            metrics.EVENTS_SKIPPED.labels(record.topic, "already_processed").inc()
            return
        try:
            event = decode(record.topic, record.value)
        except UnknownEventType:
            await self._skip(record, tracking, "unknown_type")
            return
        except CodecError as error:
            await self._dead_letter(record, tracking, error.reason)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            await self._skip(record, tracking, "not_handled")
            return
        if record.key != event.key:
            # The key decides the partition and so the order of one dossier's events; a record
            # filed under another office's or dossier's key is out of that order (or forged).
            found = record.key.decode("utf-8", "replace") if record.key is not None else None
            await self._dead_letter(
                record,
                tracking,
                f"record key {found!r} does not match the envelope's tenantid "
                f"{event.tenantid!r} and dossierid {event.dossierid!r} "
                f"(expected key {event.key.decode()!r})",
            )
            return
        await self._handle(record, event, handler, tracking)

    async def _handle(
        self, record: Any, event: CloudEvent, handler: Handler, tracking: Tracking
    ) -> None:
        # Continue the trace of what caused the event: what the handler stores carries it on.
        with tracing.consumer_span(record.topic, event.type, _cause(record, event)):
            await self._handle_in_span(record, event, handler, tracking)

    async def _handle_in_span(
        self, record: Any, event: CloudEvent, handler: Handler, tracking: Tracking
    ) -> None:
        backoff = Backoff(0.1, self.max_retry_delay)
        conflicts = 0
        while True:
            try:
                opened = event if self.opener is None else (await self.opener([event]))[0]
                await asyncio.to_thread(handler, opened, tracking)
            except Exception as error:
                disposition = classify(error)
                if disposition is Disposition.CONFLICT:
                    if await self._retrying(self.positions.has_tracked, tracking):
                        metrics.EVENTS_SKIPPED.labels(record.topic, "already_processed").inc()
                        return
                    # An aggregate changed under us (a concurrent command): load and try
                    # again; a conflict that never goes away is no concurrency and must not
                    # stall us.
                    conflicts += 1
                    if conflicts >= MAX_CONFLICTS:
                        await self._dead_letter(
                            record, tracking, f"conflict persisted on {event.type}: {error}"
                        )
                        return
                elif disposition is Disposition.TRANSIENT:
                    metrics.TRANSIENT_RETRIES.labels(record.topic).inc()
                    log.warning(
                        "%s: transient failure on %s, retrying: %s", self.name, event.type, error
                    )
                else:
                    if not isinstance(error, Refused | ValueError | AggregateOfAnotherOffice):
                        log.exception("%s: handler for %s failed", self.name, event.type)
                    await self._dead_letter(
                        record, tracking, f"rejected {event.type}: {describe(error)}"
                    )
                    return
            else:
                metrics.EVENTS_PROCESSED.labels(record.topic, event.type).inc()
                return
            await backoff.sleep()

    async def _skip(self, record: Any, tracking: Tracking, reason: str) -> None:
        await self._retrying(self.positions.record_tracking, tracking)
        metrics.EVENTS_SKIPPED.labels(record.topic, reason).inc()

    async def _dead_letter(self, record: Any, tracking: Tracking, reason: str) -> None:
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason,
        )
        # Any failure is retried: the broker away, the producer being replaced, ...
        await retry(
            lambda: self.dead_letters.send(record, reason),
            backoff=Backoff(0.1, self.max_retry_delay),
            on_retry=lambda error: log.warning(
                "%s: DLQ publish failed, retrying: %s", self.name, error
            ),
        )
        await self._retrying(self.positions.record_tracking, tracking)

    async def _retrying(self, call: Callable[..., Any], *args: Any) -> Any:
        return await retry(
            lambda: asyncio.to_thread(call, *args),
            backoff=Backoff(0.1, self.max_retry_delay),
            retry_on=is_transient,
            on_retry=lambda error: log.warning(
                "%s: store unavailable, retrying: %s", self.name, error
            ),
        )


def _cause(record: Any, event: CloudEvent) -> str | None:
    """The trace context of what caused the record: its Kafka header, else its envelope's."""
    return tracing.traceparent_of(record.headers) or event.traceparent


_SKIP: Any = object()
"""What ``_batchable`` gives for a record of a type the service does not handle."""
