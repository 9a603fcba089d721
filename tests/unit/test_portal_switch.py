"""The portal switches to a rebuilt read model (`actiepunten replay portal`) without losing events.

The live consumer is in the middle of a batch when the replay points at its new model. The new
model is behind the live one (the replay stopped at the end offsets it saw when it started), so
every record after its position must still reach it: none may be skipped. Kafka is a fake here
(records of one partition, a position, seeks); the stores are real SQLite files.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import TopicPartition
from eventsourcing.persistence import Tracking

from servicekit.consumer import TrackingConsumer
from servicekit.settings import Settings
from services.portal_projection import kafka
from services.portal_projection.main import switch_to_served
from services.portal_projection.stores import DEFAULT_NAME, SQLiteStore, activate, open_store
from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import decode, encode, new_event

OFFICE = "kantoor-utrecht"
DOSSIER = "dossier-1"
TP = TopicPartition(topics.DOSSIERCONTROLE, 0)
REBUILT = "portal-rebuilt.sqlite"
TP_NAME = f"{TP.topic}:{TP.partition}"


class Record:
    def __init__(self, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.value = TP.topic, TP.partition, offset, value
        self.key = f"{OFFICE}:{DOSSIER}".encode()
        self.headers: list[tuple[str, bytes]] = []
        self.timestamp = 0


class OnePartition:
    """The part of AIOKafkaConsumer the tracking consumer uses, over one partition's records."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.at = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.at = 0

    async def getmany(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        batch = self.records[self.at :]
        if not batch:
            await asyncio.sleep(0.01)
            return {}
        self.at = len(self.records)
        return {TP: batch}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        pass

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.records) for tp in tps}

    async def position(self, tp: TopicPartition) -> int:
        return self.at


class NoDeadLetters:
    async def send(self, record: Any, reason: str) -> None:
        raise AssertionError(f"nothing should be dead-lettered: {reason}")


def opened(n: int) -> bytes:
    event = new_event(
        c.ActionPointOpened,
        {
            "action_point_id": uuid4(),
            "document_id": uuid4(),
            "dossier_id": DOSSIER,
            "subject": {"type": "product", "id": "hyp-1", "scope": "hypotheek"},
            "document_type": f"stuk_{n}",
            "title": f"Stuk {n}",
            "opened_at": "2025-03-10T09:00:00+00:00",
        },
        source="actiepunten/dossiercontrole_service",
        tenant=OFFICE,
        dossier=DOSSIER,
    )
    return encode(event)


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    return Settings(
        service="portal", data_dir=tmp_path, kafka_bootstrap_servers="unused", jwt_secret="x"
    )


@pytest.fixture
def view(config: Settings) -> Iterator[PortalView]:
    portal = PortalView(open_store(config, DEFAULT_NAME))
    yield portal
    portal.close()


def feed(view: PortalView, records: list[Record]) -> None:
    handle = kafka.handlers(view)["ActionPointOpened"]
    for record in records:
        handle(c.ActionPointOpened.model_validate_json(record.value), tracking(record))


def tracking(record: Record) -> Tracking:
    return Tracking(f"{record.topic}:{record.partition}", record.offset + 1)


def titles(store: SQLiteStore) -> list[str]:
    rows = store.query("SELECT title FROM action_points ORDER BY title")
    return sorted((row["title"] for row in rows), key=lambda t: int(t.split()[-1]))


async def test_a_replay_that_finishes_mid_batch_loses_no_event(
    config: Settings, view: PortalView
) -> None:
    records = [Record(n, opened(n)) for n in range(12)]
    # The live model has seen offsets 0-5; the replay rebuilt 0-2 and points at its model.
    feed(view, records[:6])
    rebuilt = PortalView(open_store(config, REBUILT))
    feed(rebuilt, records[:3])
    rebuilt.close()

    loop = asyncio.get_running_loop()
    switching: list[Any] = []
    consumer: TrackingConsumer

    project = kafka.handlers(view)["ActionPointOpened"]

    def handle(event: c.CloudEvent, position: Tracking) -> None:
        if position.notification_id == 9 and not switching:
            # While offset 8 is being processed, the replay finishes and the portal notices.
            activate(config, REBUILT)
            switching.append(
                asyncio.run_coroutine_threadsafe(switch_to_served(config, view, consumer), loop)
            )
            deadline = time.monotonic() + 1.5
            while view.name != REBUILT and time.monotonic() < deadline:
                time.sleep(0.01)
        project(event, position)

    source = OnePartition(records)
    consumer = TrackingConsumer(
        name="portal-test",
        kafka="unused",
        group_id="portal-test",
        topics=[TP.topic],
        handlers={"ActionPointOpened": handle},
        positions=view,
        dead_letters=NoDeadLetters(),  # type: ignore[arg-type]
    )
    consumer._consumer = source  # type: ignore[assignment]
    await consumer.seek_to_tracked({TP})
    running = asyncio.create_task(consumer._consume(source))  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if switching and switching[0].done() and view.max_tracking_id(TP_NAME) == 12:
                break
            await asyncio.sleep(0.02)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    # The portal serves the rebuilt model, and it holds every action point, none skipped.
    assert view.name == REBUILT
    assert view.max_tracking_id(TP_NAME) == 12
    served = SQLiteStore(config.data_dir / REBUILT)
    try:
        assert titles(served) == [f"Stuk {n}" for n in range(12)]
    finally:
        served.close()


class HeldStore:
    """A store whose next query waits until released: a reader that holds the old model."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.name = inner.name
        self.reading = threading.Event()
        self.release = threading.Event()
        self.closed = False

    def transaction(self) -> Any:
        return self.inner.transaction()

    def indexed(self, db: Any, names: Any) -> None:
        self.inner.indexed(db, names)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        self.reading.set()
        assert self.release.wait(10)
        return self.inner.query(sql, params)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_a_client_reading_while_the_portal_switches_gets_the_old_model(config: Settings) -> None:
    records = [Record(n, opened(n)) for n in range(3)]
    old = HeldStore(SQLiteStore(config.data_dir / DEFAULT_NAME))
    view = PortalView(old)
    feed(view, records)
    rebuilt = open_store(config, REBUILT)

    # A client's request is reading the live model when the portal switches to the rebuilt one.
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(view.action_points, OFFICE, DOSSIER)
        assert old.reading.wait(10)
        view.reopen(rebuilt)
        assert not old.closed  # still in use
        old.release.set()
        # The read finishes from the model it started on; then that model is closed.
        assert sorted(p["title"] for p in reading.result(timeout=10)) == [
            "Stuk 0",
            "Stuk 1",
            "Stuk 2",
        ]
    assert old.closed
    assert view.name == REBUILT and view.action_points(OFFICE, DOSSIER) == []
    view.close()


def test_a_rebuilt_model_is_journaled_and_complete_when_the_portal_opens_it(tmp_path: Path) -> None:
    # The replay fills its new file without a journal on disk or a sync per batch ...
    path = tmp_path / REBUILT
    rebuilding = SQLiteStore(path, rebuilding=True)
    assert rebuilding.query("PRAGMA synchronous")[0]["synchronous"] == 0
    view = PortalView(rebuilding)
    events = [decode(topics.DOSSIERCONTROLE, opened(n)) for n in range(50)]
    view.process_many(events, Tracking(TP_NAME, 50))
    rebuilding.rebuilt()
    view.close()

    # ... and what the portal opens after the switch is a served model like any other.
    served = SQLiteStore(path)
    try:
        assert served.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
        assert served.query("SELECT COUNT(*) AS n FROM action_points")[0]["n"] == 50
        assert PortalView(served).max_tracking_id(TP_NAME) == 50
    finally:
        served.close()
