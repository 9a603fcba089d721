"""Story: Kubernetes probes a service while its database or its broker goes away.

`/livez` keeps answering 200 (restarting the pod would bring neither back). `/readyz` answers
503 naming the store while the database is down, within a few seconds, and 200 once it is back;
a broker outage leaves the service ready, since its consumers keep their partitions and what
it stores meanwhile is published when the broker returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools import Broker, create_topics, provide_broker
from devtools.postgres import PostgresServer, start_throwaway
from devtools.postgres import available as postgres_available
from tests.support import System, eventually, free_port

pytestmark = pytest.mark.e2e

SERVICES = ("scenario", "dossiercontrole", "portal")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    if not postgres_available():
        pytest.skip("no PostgreSQL binaries on this machine")
    server = start_throwaway()
    yield server
    server.remove()


def _probe(system: System, service: str, path: str) -> httpx.Response:
    # A probe has a deadline of its own; /readyz answers within its store timeout (3 s).
    return httpx.get(system.url(service) + path, timeout=10)


def _ready(system: System, service: str) -> None:
    response = _probe(system, service, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "service": service}


def test_a_service_whose_database_is_down_is_alive_but_not_ready(
    kafka: Broker, own_postgres: PostgresServer, tmp_path: Path
) -> None:
    system = System(
        kafka.bootstrap_servers,
        tmp_path,
        idempotence=kafka.supports_idempotence,
        extra_env=own_postgres.create_database("probes"),
    )
    system.start()
    try:
        for service in SERVICES:
            eventually(lambda service=service: _ready(system, service), timeout=60)

        # The database stops.
        own_postgres.stop()
        for service in SERVICES:
            assert _probe(system, service, "/livez").status_code == 200
            response = _probe(system, service, "/readyz")
            assert response.status_code == 503, response.text
            problem = response.json()["problems"][f"store:{service}"]
            # What failed, without the driver's text (hosts, ports, users).
            assert problem.startswith(("unavailable (", "no answer within")), problem

        # It is back: every service is ready again.
        own_postgres.start()
        for service in SERVICES:
            eventually(lambda service=service: _ready(system, service), timeout=90)
    finally:
        system.stop()


def test_a_broker_outage_restarts_nothing_and_takes_no_replica_out_of_service(
    tmp_path: Path,
) -> None:
    # An own broker (the embedded one, quick to start), so stopping it disturbs no other test.
    broker = provide_broker(tmp_path / "broker", prefer="tansu", port=free_port())
    try:
        asyncio.run(create_topics(broker.bootstrap_servers))
        system = System(broker.bootstrap_servers, tmp_path / "system", idempotence=False)
        system.start("portal")
        try:
            eventually(lambda: _ready(system, "portal"), timeout=60)

            # The broker goes away. The portal still serves what it has and keeps its
            # partitions for when the broker is back: alive, and ready, probe after probe.
            broker.stop()
            for _ in range(5):
                assert _probe(system, "portal", "/livez").status_code == 200
                _ready(system, "portal")
        finally:
            system.stop()
    finally:
        broker.stop()
