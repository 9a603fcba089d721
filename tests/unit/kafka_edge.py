"""What the unit tests of the services' Kafka edge share: one office's dossier, an outbox,
and a consumer whose positions and dead letters stay in memory.

``translate`` is the one place where a service's stored events become the integration events it
publishes; ``handlers`` turn consumed integration events into commands. Both are plain functions,
so the stories drive them directly: the application on eventsourcing's in-memory store, the
events built with the codec as a producer would build them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from eventsourcing.persistence import Tracking

from servicekit.consumer import DeadLetters, PositionStore, TrackingConsumer
from servicekit.crypto import ERASED, is_sealed
from servicekit.eventstore import TrackedApplication
from servicekit.sealing import open_published, published_context
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import decode, encode
from shared.events.personal import personal_values

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
DOSSIER = "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}
DISCHARGE = {"document_type": "finale_kwijting", "title": "Finale kwijting", "action_point": False}


class Outbox:
    """What a service would publish: its new stored events, translated, checked on the wire."""

    def __init__(
        self, app: TrackedApplication, topic: str, translate: Callable[[Any], Sequence[Any]]
    ) -> None:
        self.app = app
        self.topic = topic
        self.translate = translate
        self.position = 0

    def stored_events(self, start: int = 0) -> list[Any]:
        notifications = self.app.recorder.select_notifications(
            start, 1000, inclusive_of_start=False
        )
        return [self.app.mapper.to_domain_event(n) for n in notifications]

    def new(self) -> list[c.CloudEvent]:
        """The integration events of everything stored since the last call, as a consumer
        with the dossier's key reads them."""
        published: list[c.CloudEvent] = []
        for stored in self.stored_events(self.position):
            for event in self.translate(stored):
                # Every published event passes the contract its consumers validate, with its
                # personal fields sealed.
                assert decode(self.topic, encode(event)) == event
                published.append(self.opened(event))
        head = self.app.recorder.max_notification_id()
        self.position = head or 0
        return published

    def all(self) -> list[c.CloudEvent]:
        return [self.opened(e) for stored in self.stored_events() for e in self.translate(stored)]

    def opened(self, event: c.CloudEvent) -> c.CloudEvent:
        keys = getattr(self.app, "keys", None)
        if keys is None or event.dossierid is None:
            return event
        key = keys.published_key(event.tenantid, event.dossierid)
        if isinstance(key, bytes):
            plain = [v for v in personal_values(event) if v and v != ERASED]
            assert all(is_sealed(value) for value in plain), plain
        return open_published(event, key, published_context(event.tenantid, event.dossierid))


def types(events: Sequence[c.CloudEvent]) -> list[str]:
    return [event.type for event in events]


class Positions:
    """An in-memory position store, as the application's tracking table would be."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    def max_tracking_id(self, name: str) -> int | None:
        return self.positions.get(name)

    def has_tracked(self, tracking: Tracking) -> bool:
        return self.positions.get(tracking.application_name, 0) >= tracking.notification_id

    def record_tracking(self, tracking: Tracking) -> None:
        self.positions[tracking.application_name] = tracking.notification_id


class FakeDLQ:
    """Records what would be published to the DLQ topic."""

    def __init__(self) -> None:
        self.letters: list[dict[str, Any]] = []

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.letters.append({"topic": topic, "body": json.loads(value), "headers": headers})


def consumer_with(handlers: dict[str, Any], positions: PositionStore, dlq: Any) -> TrackingConsumer:
    return TrackingConsumer(
        name="actiepunten.scenario",
        kafka="unused:9092",  # process() never talks to Kafka
        group_id="test",
        topics=[topics.PRODUCTS],
        handlers=handlers,
        positions=positions,
        dead_letters=DeadLetters(dlq, topics.SCENARIO_DLQ, "actiepunten.scenario"),
    )


def record(value: bytes, offset: int = 41) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topics.PRODUCTS,
        partition=0,
        offset=offset,
        value=value,
        key=f"{OFFICE}:{DOSSIER}".encode(),
        timestamp=1_741_597_200_000,
        headers=(),
    )
