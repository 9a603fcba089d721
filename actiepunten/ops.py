"""Operations commands: replay the portal, republish, dossier history, dead letters.

They run beside the services with the same environment (``ACTIEPUNTEN_DATA_DIR``,
``KAFKA_BOOTSTRAP_SERVERS``, ``ACTIEPUNTEN_PERSISTENCE`` ...), reading the services' own stores.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer, TopicPartition
from eventsourcing.persistence import Tracking

from servicekit.gctuning import tune_for_throughput
from servicekit.kafka import Publisher, TopicReader, make_broker, write_refusals
from servicekit.kafkaclient import client_options
from servicekit.services import SERVICES, STORES
from servicekit.settings import Settings

# The consumer's, the event stores' and the relay's modules (FastStream, psycopg) are imported
# where they are used: `replay portal` starts without them.
if TYPE_CHECKING:
    from servicekit.eventstore import TrackedApplication
    from shared.events.contracts import CloudEvent


def settings_for(service: str) -> Settings:
    return Settings.from_env(service, require_secret=False)


def open_store(service: str) -> tuple[TrackedApplication, Any, str]:
    """The service's application over its own store, its ``translate`` and its topic."""
    described = SERVICES[service]
    if described.application is None or described.store is None:
        raise SystemExit(f"{service} has no event store; choose one of {', '.join(STORES)}")
    application = getattr(described.module("application"), described.application)
    kafka = described.module("kafka")
    app = application(env=settings_for(service).eventstore_env(described.store))
    return app, kafka.OUTBOX.translator(app), kafka.PUBLISHES


class Progress:
    """A one-line progress bar with a rate, on stderr."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last_draw > 0.2:
            self._last_draw = now
            self.draw()

    def draw(self, end: str = "") -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * share) + "-" * (30 - int(30 * share))
            line = f"{self.label} [{bar}] {self.done}/{self.total} {rate:,.0f} events/s"
        else:
            line = f"{self.label} {self.done} {rate:,.0f} events/s"
        print(f"\r{line}", end=end, file=sys.stderr, flush=True)

    def finish(self) -> None:
        self.draw(end="\n")


# --- republish ---------------------------------------------------------------------------------


def iter_notifications(app: TrackedApplication, start: int) -> Iterator[Any]:
    position = start - 1
    while True:
        batch = app.recorder.select_notifications(position, 500, inclusive_of_start=False)
        if not batch:
            return
        yield from batch
        position = batch[-1].id


async def republish(service: str, start: int = 1) -> int:
    """Re-emit the integration events of a service's store from notification ``start``.

    Through an outbox relay of its own (its own tracking name, so the service's relay is not
    moved), which quarantines a stored event no contract can carry on the service's DLQ as the
    live relay does. The events carry the ids they had the first time; consumers absorb repeats.
    """
    from servicekit.consumer import DeadLetters
    from servicekit.outbox import OutboxRelay

    app, translate, topic = open_store(service)
    settings = settings_for(service)
    broker = make_broker(settings.kafka, idempotence=settings.kafka_idempotence)
    await broker.start()
    publisher = Publisher(broker)
    published = 0

    async def publish(to: str, events: Sequence[CloudEvent]) -> None:
        nonlocal published
        await publisher.publish_events(to, events)
        published += len(events)

    relay = OutboxRelay(
        app,
        topic,
        translate,
        publish,
        quarantine=DeadLetters(
            publisher, SERVICES[service].dlq, f"actiepunten.{service}"
        ).quarantine,
        tracking_name=f"republish:{topic}:{datetime.now(UTC).isoformat()}",
    )
    head = app.recorder.max_notification_id() or 0
    progress = Progress(f"republish {service}", max(0, head - start + 1))
    try:
        if start > 1:
            app.process_recorder.insert_tracking(Tracking(relay.tracking_name, start - 1))
        while relay.position() < head:
            progress.advance(await relay.relay_once())
    finally:
        progress.finish()
        await broker.stop()
        app.close()
    print(f"republished {published} events to {topic}")
    return published


# --- replay portal -----------------------------------------------------------------------------


async def replay_portal() -> str:
    """Rebuild the portal read model from the topic's beginning into a new one, then swap
    (``services.portal_projection.replay``: the portal does the same by itself after an upgrade).

    The running portal keeps serving the old model meanwhile; once the new one has caught up
    with the end offsets seen at the start, the pointer names it and the portal switches.
    """
    from services.portal_projection.replay import rebuild
    from services.portal_projection.stores import current_name

    settings = settings_for("portal")
    old = current_name(settings)
    tune_for_throughput()
    progress = Progress("replay portal", None)
    started = time.perf_counter()
    try:
        rebuilt = await rebuild(settings, progress)
    finally:
        progress.finish()
    print(
        f"portal read model rebuilt in {rebuilt.name} ({rebuilt.skipped} unreadable records "
        f"skipped, {time.perf_counter() - started:.3f} s); the portal switches from {old} "
        "within a second"
    )
    return rebuilt.name


# --- dossier history ---------------------------------------------------------------------------


def _who(event: Any, starters: dict[Any, str]) -> str:
    """Who did it: the event's own actor, else who started its aggregate (a run's execution is
    the adviser's who started it; ``starters`` remembers them in the order of the log)."""
    for name in ("by", "started_by", "requested_by", "received_from"):
        value = getattr(event, name, None)
        if value:
            starters.setdefault(event.originator_id, str(value))
            return str(value)
    return starters.get(event.originator_id, "system")


def _belongs(
    app: TrackedApplication, event: Any, tenant: str, dossier_id: str, owners: dict[Any, Any]
) -> bool:
    facts = getattr(event, "run", None) or vars(event)
    if "tenant" not in facts:
        # Events that carry only what happened: whose they are is the aggregate's identity.
        facts = _owner(app, event.originator_id, owners)
    return bool(facts.get("tenant") == tenant and facts.get("dossier_id") == dossier_id)


def _owner(app: TrackedApplication, originator_id: Any, owners: dict[Any, Any]) -> Any:
    if originator_id not in owners:
        first: Any = app.repository.get(originator_id, version=1)
        owners[originator_id] = {
            "tenant": getattr(first, "tenant", None),
            "dossier_id": getattr(first, "dossier_id", None),
        }
    return owners[originator_id]


def _is_plumbing(event: Any) -> bool:
    """Events that only make lookups work (locators, an aggregate's opening), not history."""
    return type(event).__qualname__ in {"Locator.Placed", "DossierCheck.Opened", "AccessLog.Opened"}


def _summary(event: Any) -> str:
    fields = (
        "document_type",
        "title",
        "scenario_name",
        "execute_at",
        "reason",
        "note",
        "reference",
        "version",
        "document_id",
        "action_point_id",
    )
    parts = [
        f"{name}={getattr(event, name)}"
        for name in fields
        if getattr(event, name, None) not in (None, "")
    ]
    if isinstance(getattr(event, "file", None), dict):
        parts.append(f"file={event.file.get('filename')} ({event.file.get('content_type')})")
    return " ".join(parts)


def dossier_history(tenant: str, dossier_id: str, at: datetime | None = None) -> list[str]:
    """The audit trail of a dossier across the event stores, and its dossier check at ``at``."""
    from services.dossiercontrole_service.domainmodel import DossierCheck

    lines: list[tuple[datetime, str]] = []
    state = None
    owners: dict[Any, Any] = {}
    starters: dict[Any, str] = {}
    for service in STORES:
        app, _, _ = open_store(service)
        try:
            for notification in iter_notifications(app, 1):
                event: Any = app.mapper.to_domain_event(notification)
                if at is not None and event.timestamp > at:
                    continue
                if _is_plumbing(event) or not _belongs(app, event, tenant, dossier_id, owners):
                    continue
                what = type(event).__qualname__
                lines.append(
                    (
                        event.timestamp,
                        f"{event.timestamp.isoformat()}  {service:15} "
                        f"{what:32} by {_who(event, starters):24} {_summary(event)}",
                    )
                )
            if service == "dossiercontrole":
                state = _dossier_check_at(app, DossierCheck.create_id(tenant, dossier_id), at)
        finally:
            app.close()
    output = [line for _, line in sorted(lines)]
    moment = at.isoformat() if at else "now"
    output.append("")
    output.append(f"Dossier check of {dossier_id} at {moment}:")
    if state is None:
        output.append("  (no documents)")
    else:
        for document in state.documents.values():
            point = document.action_point
            status = "removed" if document.removed else document.status.value
            output.append(
                f"  {document.document_type:24} {document.title:28} {status:10} "
                f"action point: {point.status.value if point else '-'}"
            )
    return output


def _dossier_check_at(app: TrackedApplication, check_id: Any, at: datetime | None) -> Any:
    version = None
    stored: Any
    for stored in app.events.get(check_id):
        if at is not None and stored.timestamp > at:
            break
        version = stored.originator_version
    if version is None:
        return None
    return app.repository.get(check_id, version=version)


# --- dead letters ------------------------------------------------------------------------------


async def dlq_list(service: str) -> list[dict[str, Any]]:
    settings = settings_for(service)
    async with TopicReader(settings.kafka, SERVICES[service].dlq) as reader:
        records = await reader.to_end()
    letters = []
    for record in records:
        letter = json.loads(record.value)
        letter["dlq_offset"] = f"{record.partition}:{record.offset}"
        letters.append(letter)
        origin = letter.get("origin", {})
        print(
            f"{letter['dlq_offset']:>8}  {letter.get('failed_at', '')[:19]}  "
            f"{origin.get('topic')}[{origin.get('partition')}]@{origin.get('offset')}  "
            f"{letter.get('reason')}"
        )
    print(f"{len(letters)} dead letters on {SERVICES[service].dlq}")
    return letters


async def dlq_retry(service: str, *, again: bool = False) -> int:
    """Send each dead letter not retried before back to its origin topic, as it was.

    A retried record that fails again comes back as a letter marked ``retry_of``; those are
    left for a person to look at unless ``again``, so a retry never loops.
    """
    settings = settings_for(service)
    group = f"actiepunten.dlq-retry.{service}"
    retried = 0
    async with TopicReader(settings.kafka, SERVICES[service].dlq, group_id=group) as reader:
        records = await reader.to_end()
        producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
        await producer.start()
        try:
            for record in records:
                retried += await _send_back(
                    producer, record, again=again, principal=settings.kafka.principal
                )
        finally:
            await producer.stop()
        if records:
            last: dict[TopicPartition, int] = {}
            for record in records:
                last[TopicPartition(record.topic, record.partition)] = record.offset + 1
            await reader.consumer.commit(last)
    print(f"retried {retried} dead letters from {SERVICES[service].dlq}")
    return retried


async def _send_back(
    producer: AIOKafkaProducer, record: Any, *, again: bool, principal: str = "ANONYMOUS"
) -> bool:
    """Send a dead letter's record back to its origin topic; False for one to leave alone."""
    from servicekit.consumer import RETRY_HEADER

    letter = json.loads(record.value)
    value = letter.get("value")
    origin = letter["origin"]
    if value is None or "topic" not in origin or "offset" not in origin:
        return False  # too large to keep, or an outbox letter: nothing to send back
    if origin.get("retry_of") and not again:
        return False
    raw = (
        json.dumps(value).encode()
        if letter.get("value_encoding") == "json"
        else str(value).encode("latin-1")
    )
    key = origin.get("key")
    marker = f"{record.topic}:{record.partition}:{record.offset}".encode()
    # A service's own Kafka user may not write the origin topic: run this as an operator's.
    with write_refusals(origin["topic"], principal):
        await producer.send_and_wait(
            origin["topic"],
            raw,
            key=key.encode() if key else None,
            headers=[(RETRY_HEADER, marker)],
        )
    return True
