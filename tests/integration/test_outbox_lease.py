"""Replicas sharing a store take one outbox lease, on SQLite (a file lock) and on PostgreSQL
(an advisory lock on a connection of its own): one relay publishes, the other takes over when
it stops, and no wall clock decides. Kafka is replaced by a list of acknowledged batches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.postgres import PostgresServer
from servicekit.lease import FileLease, PostgresAdvisoryLease
from servicekit.outbox import OutboxRelay
from servicekit.settings import Settings
from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
)
from shared.events import contracts as c
from tests.conftest import store_params

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


class FakeKafka:
    def __init__(self) -> None:
        self.events: list[c.CloudEvent] = []

    async def publish(self, topic: str, events: Sequence[c.CloudEvent]) -> None:
        self.events.extend(events)


@pytest.fixture(params=store_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The eventsourcing environment of one dossiercontrole store, shared by two replicas."""
    persistence = request.param
    postgres: dict[str, str] = {}
    if persistence == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        env = server.create_database(f"lease_{uuid.uuid4().hex[:12]}")
        postgres = {
            key.removeprefix("ACTIEPUNTEN_POSTGRES_"): value
            for key, value in env.items()
            if key.startswith("ACTIEPUNTEN_POSTGRES_")
        }
    settings = Settings(
        service="dossiercontrole",
        data_dir=tmp_path,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret="unused",
        persistence=persistence,
        postgres=postgres,
    )
    return settings.eventstore_env("dossiercontrole")


@pytest.fixture
def replicas(store: dict[str, str]) -> Iterator[tuple[DossierChecks, DossierChecks]]:
    first, second = DossierChecks(env=store), DossierChecks(env=store)
    yield first, second
    first.close()
    second.close()


def request(app: DossierChecks, dossier_id: str, document_type: str) -> None:
    app.add_requested_document(
        AddRequestedDocument(
            OFFICE, dossier_id, uuid.uuid4(), MORTGAGE, document_type, None, None, NOW
        )
    )


def added(broker: FakeKafka) -> list[str]:
    return [e.data.document_type for e in broker.events if e.type == "DocumentAdded"]


def _shared_relay(app: DossierChecks, broker: FakeKafka) -> OutboxRelay:
    """A replica's relay over the store the replicas share (it takes the store's lease)."""
    return OutboxRelay(
        app, kafka.PUBLISHES, kafka.OUTBOX.translator(app), broker.publish, shared=True
    )


async def test_two_replicas_one_relay_publishes_and_the_other_takes_over(
    replicas: tuple[DossierChecks, DossierChecks], store: dict[str, str]
) -> None:
    first_app, second_app = replicas
    broker = FakeKafka()
    first = _shared_relay(first_app, broker)
    second = _shared_relay(second_app, broker)
    expected = PostgresAdvisoryLease if "POSTGRES_DBNAME" in store else FileLease
    assert isinstance(first.lease, expected)

    # Requests arrive at both replicas; whichever relay asks first holds the lease ...
    request(first_app, "dossier-1", "identiteitsbewijs")
    assert await first.relay_once() > 0
    request(second_app, "dossier-1", "loonstrook")
    # ... and the other one publishes nothing while it is held.
    assert await second.relay_once() == 0
    assert await first.relay_once() > 0
    assert added(broker) == ["identiteitsbewijs", "loonstrook"]

    # The first replica stops (its lock ends with it); the second takes over where it stopped.
    first.lease.release()
    request(first_app, "dossier-2", "jaarcijfers")
    assert await second.relay_once() > 0
    assert await first.relay_once() == 0
    assert added(broker) == ["identiteitsbewijs", "loonstrook", "jaarcijfers"]
    assert len({e.id for e in broker.events}) == len(broker.events)  # nothing twice
    second.lease.release()


async def test_a_lease_lost_with_its_connection_is_noticed_before_sending(
    replicas: tuple[DossierChecks, DossierChecks], store: dict[str, str]
) -> None:
    if "POSTGRES_DBNAME" not in store:
        pytest.skip("a file lock cannot be lost by a living process")
    first_app, second_app = replicas
    broker = FakeKafka()
    first = _shared_relay(first_app, broker)
    second = _shared_relay(second_app, broker)
    request(first_app, "dossier-1", "identiteitsbewijs")
    assert await first.relay_once() > 0
    lease = first.lease
    assert isinstance(lease, PostgresAdvisoryLease)

    # The database ends the first relay's session (a network cut, a failover) ...
    lease._conn.close()
    assert not lease.held()
    # ... so the second takes the lease, and the first cannot send until it has it again.
    request(second_app, "dossier-1", "loonstrook")
    assert await second.relay_once() > 0
    assert await first.relay_once() == 0
    assert added(broker) == ["identiteitsbewijs", "loonstrook"]
    second.lease.release()
    assert await first.relay_once() == 0  # nothing new: the position moved on meanwhile
    first.lease.release()
