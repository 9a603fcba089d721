"""Story: a service killed (SIGKILL) while it works through a backlog in batched transactions
loses nothing and doubles nothing once it is back.

The dossier check and the portal are down while document requests pile up on the scenario topic.
Each is started and killed as soon as its first batch is in, so the kill lands while it is in
the middle of the backlog, in one of its next batch transactions; restarted, it resumes from the
tracking position its last committed batch stored. Every request ends as exactly one document
and one open action point, and the dossier check has tracked every record of the topic.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from devtools import Broker
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.support import Office, System, count_by_subject, eventually

pytestmark = pytest.mark.e2e

REQUESTS = 2400
DOSSIERS = 24
DOSSIER_IDS = [f"dossier-{d}" for d in range(DOSSIERS)]
PROCESSED = "actiepunten_events_processed_total"


def document_requests(office: Office) -> list[tuple[bytes, bytes]]:
    records = []
    for index in range(REQUESTS):
        dossier = f"dossier-{index % DOSSIERS}"
        event = new_event(
            c.DocumentRequested,
            {
                "request_id": uuid.uuid4(),
                "dossier_id": dossier,
                # A subject of its own: no request merges into another's document.
                "subject": {"type": "product", "id": f"product-{index}", "scope": "hypotheek"},
                "document_type": "loonstrook",
                "source": "manual",
                "requested_by": "adviseur-1",
            },
            source="actiepunten/scenario_service",
            tenant=office.tenant,
            dossier=dossier,
        )
        records.append((encode(event), event.key))
    return records


def send_all(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            sent = [await producer.send(topics.SCENARIO, value, key=key) for value, key in records]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(send())


def processed(system: System, service: str, event_type: str) -> float:
    """What this run of the service processed of ``event_type``, from its /metrics."""
    text = httpx.get(system.url(service) + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(PROCESSED) and f'type="{event_type}"' in line
    )


def kill_after_its_first_batch(system: System, service: str, event_type: str) -> float:
    """Start ``service`` and SIGKILL it once a first batch is committed; what it had done."""
    system.start(service)

    def first_batch_in() -> float:
        done = processed(system, service, event_type)
        assert done > 0
        return done

    done = eventually(first_batch_in, timeout=120, interval=0.02)
    system.kill(service)
    return done


def test_a_service_killed_in_the_middle_of_a_batch_loses_and_doubles_nothing(
    kafka: Broker, own_store_env: dict[str, str], tmp_path: Path
) -> None:
    system = System(
        kafka.bootstrap_servers,
        tmp_path / "system",
        idempotence=kafka.supports_idempotence,
        extra_env=own_store_env,
    )
    system.start("scenario")
    try:
        office = system.office()
        send_all(kafka.bootstrap_servers, document_requests(office))

        # The dossier check takes the backlog in batches and is killed after its first one.
        at_kill = kill_after_its_first_batch(system, "dossiercontrole", "DocumentRequested")
        assert 0 < at_kill < REQUESTS, "the kill did not land in the middle of the backlog"
        system.start("dossiercontrole")
        # The portal likewise, while the dossier check's facts keep arriving.
        kill_after_its_first_batch(system, "portal", "ActionPointOpened")
        system.start("portal")

        expected = {f"product-{index}" for index in range(REQUESTS)}

        def all_arrived() -> None:
            documents, points = count_by_subject(system, office, DOSSIER_IDS)
            assert set(documents) >= expected and set(points) >= expected

        eventually(all_arrived, timeout=300, interval=1.0)
        documents, points = count_by_subject(system, office, DOSSIER_IDS)
        assert set(documents) == expected and set(points) == expected
        assert [s for s, n in documents.items() if n > 1] == []
        assert [s for s, n in points.items() if n > 1] == []
    finally:
        system.stop()
