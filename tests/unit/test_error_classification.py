"""Errors are classified once (servicekit.failures): transient ones are retried, permanent ones are
dead-lettered with the reason and the partition goes on.

The consumer stories drive ``TrackingConsumer.process`` with in-memory positions and a DLQ that
records what it would publish (no Kafka), as the stories of test_consumer do.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import psycopg
import psycopg.errors
import psycopg_pool
import pytest
from eventsourcing import persistence as es
from eventsourcing.persistence import Tracking

from servicekit.failures import Disposition, classify
from shared.events import contracts as c
from shared.events.codec import encode, new_event
from tests.unit.kafka_edge import DOSSIER, OFFICE, FakeDLQ, Positions, consumer_with, record

T, C, P = Disposition.TRANSIENT, Disposition.CONFLICT, Disposition.PERMANENT


@pytest.mark.parametrize(
    ("error", "disposition"),
    [
        # the store or the network away or busy: retry
        (es.OperationalError("server closed the connection unexpectedly"), T),
        (es.InterfaceError("connection already closed"), T),
        (es.ConnectionUnavailableError("pool timeout"), T),
        (sqlite3.OperationalError("database is locked"), T),
        (psycopg.OperationalError("connection refused"), T),
        (psycopg.errors.SerializationFailure("could not serialize access"), T),
        (psycopg.errors.DeadlockDetected("deadlock detected"), T),
        (psycopg_pool.PoolTimeout("couldn't get a connection after 2.00 sec"), T),
        (ConnectionResetError("reset by peer"), T),
        (TimeoutError(), T),
        # a save conflict: the caller tells "already processed" from "changed under us"
        (es.IntegrityError("duplicate key"), C),
        (psycopg.IntegrityError("duplicate key"), C),
        # the same every time: dead-letter
        (es.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), P),
        (es.ProgrammingError("syntax error"), P),
        (es.NotSupportedError("not supported"), P),
        (psycopg.DataError("invalid byte sequence"), P),
        (sqlite3.ProgrammingError("Error binding parameter"), P),
        (KeyError("dossier_id"), P),  # an older stored event shape
        (TypeError("__init__() missing 1 required positional argument"), P),
        (ValueError("title: String should have at most 300 characters"), P),
        (RuntimeError("a bug"), P),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_each_error_has_one_disposition(error: BaseException, disposition: Disposition) -> None:
    assert classify(error) is disposition


def _product_created(product_id: str) -> bytes:
    return encode(
        new_event(
            c.ProductCreated,
            {"product_id": product_id, "product_type": "hypotheek"},
            source="platform/crm",
            tenant=OFFICE,
            dossier=DOSSIER,
        )
    )


async def test_a_permanent_store_error_is_dead_lettered_and_the_partition_goes_on() -> None:
    positions, dlq = Positions(), FakeDLQ()
    handled: list[str] = []

    def handle(event: Any, tracking: Tracking) -> None:
        if event.data.product_id == "hyp-nul":
            # What PostgreSQL answers for a value it can never store.
            raise es.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        handled.append(event.data.product_id)
        positions.record_tracking(tracking)

    consumer = consumer_with({"ProductCreated": handle}, positions, dlq)

    # A record the store refuses for good, then a good one on the same partition.
    await asyncio.wait_for(consumer.process(record(_product_created("hyp-nul"), 41)), 30)
    await asyncio.wait_for(consumer.process(record(_product_created("hyp-2"), 42)), 30)

    (letter,) = dlq.letters
    assert "cannot contain NUL" in letter["body"]["reason"]
    assert letter["body"]["origin"]["offset"] == 41
    assert handled == ["hyp-2"]
    assert positions.max_tracking_id("platform.products.v1:0") == 43


async def test_a_transient_store_error_is_retried_until_it_goes_through() -> None:
    positions, dlq = Positions(), FakeDLQ()
    attempts: list[int] = []

    def handle(event: Any, tracking: Tracking) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise es.OperationalError("server closed the connection unexpectedly")
        positions.record_tracking(tracking)

    consumer = consumer_with({"ProductCreated": handle}, positions, dlq)
    consumer.max_retry_delay = 0.01

    await asyncio.wait_for(consumer.process(record(_product_created("hyp-1"))), 30)

    assert dlq.letters == []
    assert len(attempts) == 3
    assert positions.max_tracking_id("platform.products.v1:0") == 42


async def test_an_older_shape_keyerror_is_dead_lettered_with_its_kind() -> None:
    positions, dlq = Positions(), FakeDLQ()

    def handle(event: Any, tracking: Tracking) -> None:
        raise KeyError("starts_at")

    consumer = consumer_with({"ProductCreated": handle}, positions, dlq)
    await asyncio.wait_for(consumer.process(record(_product_created("hyp-1"))), 30)

    (letter,) = dlq.letters
    assert "KeyError" in letter["body"]["reason"] and "starts_at" in letter["body"]["reason"]
    assert positions.max_tracking_id("platform.products.v1:0") == 42


# --- the record key is the envelope's tenant and dossier --------------------------------------


@pytest.mark.parametrize(
    "key",
    [b"another-office:dossier-1", b"kantoor-utrecht:dossier-2", b"kantoor-utrecht:", None],
    ids=["other office", "other dossier", "no dossier", "no key"],
)
async def test_a_record_filed_under_another_key_is_dead_lettered(key: bytes | None) -> None:
    positions, dlq = Positions(), FakeDLQ()
    handled: list[Any] = []
    consumer = consumer_with(
        {"ProductCreated": lambda event, tracking: handled.append(event)}, positions, dlq
    )
    misfiled = record(_product_created("hyp-1"))
    misfiled.key = key

    await consumer.process(misfiled)

    assert handled == []
    (letter,) = dlq.letters
    assert "does not match the envelope" in letter["body"]["reason"]
    assert f"{OFFICE}:{DOSSIER}" in letter["body"]["reason"]
    assert positions.max_tracking_id("platform.products.v1:0") == 42


async def test_a_catalogue_event_keyed_by_its_office_alone_is_accepted() -> None:
    positions, dlq = Positions(), FakeDLQ()
    handled: list[Any] = []
    consumer = consumer_with(
        {"DocumentTypeConfigured": lambda event, tracking: handled.append(event)}, positions, dlq
    )
    configured = new_event(
        c.DocumentTypeConfigured,
        {"code": "loonstrook", "name": "Loonstrook", "creates_action_point": True},
        source="actiepunten/dossiercontrole_service",
        tenant=OFFICE,
        dossier=None,
    )
    catalogue = record(encode(configured))
    catalogue.topic = "actiepunten.dossiercontrole.v1"
    catalogue.key = f"{OFFICE}:".encode()

    await consumer.process(catalogue)

    assert dlq.letters == []
    assert len(handled) == 1


async def test_a_platform_event_with_a_nul_in_an_id_is_dead_lettered() -> None:
    positions, dlq = Positions(), FakeDLQ()
    handled: list[Any] = []
    consumer = consumer_with(
        {"ProductCreated": lambda event, tracking: handled.append(event)}, positions, dlq
    )
    envelope = json.loads(_product_created("hyp-1"))
    envelope["data"]["product_id"] = "hyp\x00-1"

    await consumer.process(record(json.dumps(envelope).encode()))

    assert handled == []
    (letter,) = dlq.letters
    assert "control characters" in letter["body"]["reason"]
    assert positions.max_tracking_id("platform.products.v1:0") == 42
