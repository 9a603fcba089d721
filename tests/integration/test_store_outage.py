"""Story: the database goes away for a while; the services wait for it, and nothing is lost
or dead-lettered."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devtools import Broker
from devtools.postgres import PostgresServer, start_throwaway
from devtools.postgres import available as postgres_available
from shared.events import topics
from tests.support import System, eventually, publish_raw_batch

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    if not postgres_available():
        pytest.skip("no PostgreSQL binaries on this machine")
    server = start_throwaway()
    yield server
    server.remove()


def _document_list(tenant: str, index: int) -> tuple[bytes, bytes]:
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "test/lender",
        "type": "DocumentListReceived",
        "time": datetime.now(UTC).isoformat(),
        "tenantid": tenant,
        "dossierid": "dossier-1",
        "data": {
            "subject": {"type": "product", "id": f"hyp-{index}", "scope": "hypotheek"},
            "reference": f"outage-{index}",
            "items": [{"document_type": "werkgeversverklaring"}],
        },
    }
    return json.dumps(envelope).encode(), f"{tenant}:dossier-1".encode()


def test_requests_sent_while_the_database_is_down_are_processed_once_it_is_back(
    kafka: Broker, own_postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    system = System(
        kafka.bootstrap_servers,
        tmp_path_factory.mktemp("outage"),
        idempotence=kafka.supports_idempotence,
        extra_env=own_postgres.create_database("outage"),
    )
    system.start()
    try:
        office = system.office()
        # A lender's document lists arrive while the database is down.
        own_postgres.stop()
        records = [_document_list(office.tenant, i) for i in range(10)]
        placed = publish_raw_batch(
            kafka.bootstrap_servers, topics.DOCUMENT_LISTS, [(key, value) for value, key in records]
        )
        time.sleep(5)
        # The adviser's API says to try again rather than failing hard.
        # (after eventsourcing's own connection retries: 10 attempts of up to 2 s)
        response = system.get(
            "dossiercontrole", "/dossiers/dossier-1/documents", office.adviser, timeout=60
        )
        assert response.status_code == 503, response.text
        # The database comes back: every request is processed, once.
        own_postgres.start()

        def ten_documents() -> None:
            documents = system.documents(office, "dossier-1")
            assert sorted(d["subject"]["id"] for d in documents) == sorted(
                f"hyp-{i}" for i in range(10)
            ), documents

        eventually(ten_documents, timeout=60)
        eventually(lambda: _assert_open(system.portal(office, "dossier-1"), 10), timeout=60)
        # Nothing was dead-lettered for this office.
        origins = {(topics.DOCUMENT_LISTS, partition, offset) for partition, offset in placed}
        assert origins & dead_letter_origins(kafka.bootstrap_servers, topics.SCENARIO_DLQ) == set()
        assert not any(
            tenant == office.tenant
            for tenant in dead_letter_tenants(
                kafka.bootstrap_servers, (topics.DOSSIERCONTROLE_DLQ, topics.PORTAL_DLQ)
            )
        )
        for service in ("scenario", "dossiercontrole", "portal"):
            assert system.get(service, "/health", {}).status_code == 200
    finally:
        system.stop()


def _assert_open(portal: dict, count: int) -> None:
    assert portal["progress"] == {"open": count, "completed": 0, "percent": 0}, portal


def _dead_letters(bootstrap: str, dlq_topics: tuple[str, ...]) -> list[dict]:
    """Every dead letter on the topics, read to their end offsets."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[dict]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            assigned = [TopicPartition(t, p) for t in dlq_topics for p in range(3)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            ends = await consumer.end_offsets(assigned)
            letters = []
            while any([await consumer.position(tp) < ends[tp] for tp in assigned]):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    letters.extend(json.loads(record.value) for record in batch)
            return letters
        finally:
            await consumer.stop()

    return asyncio.run(read())


def dead_letter_origins(bootstrap: str, dlq: str) -> set[tuple[str, int, int]]:
    return {
        (letter["origin"]["topic"], letter["origin"]["partition"], letter["origin"]["offset"])
        for letter in _dead_letters(bootstrap, (dlq,))
    }


def dead_letter_tenants(bootstrap: str, dlqs: tuple[str, ...]) -> set[str]:
    return {
        letter["value"].get("tenantid")
        for letter in _dead_letters(bootstrap, dlqs)
        if isinstance(letter.get("value"), dict)
    }
