"""Kubernetes asks two questions: is the process alive (`/livez`; no means restart it), and can
it do its work now (`/readyz`; no means send it no requests for a while). Readiness is the
service's store answering, its producer started, and each consumer assigned or joining.

The readiness checks here use stand-ins for the store and the consumer; the probes of a real
service with its store or broker down are in tests/integration/test_probes.py.
"""

from __future__ import annotations

import threading

from servicekit.probes import Readiness


class Store:
    """A store that answers, fails, or hangs until released (a database that stopped)."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.released = threading.Event()
        self.released.set()

    def ping(self) -> None:
        self.released.wait(timeout=30)
        if self.error:
            raise self.error


class Consumer:
    def __init__(self, state: str) -> None:
        self.name = "actiepunten.test"
        self.state = state


async def test_a_started_service_with_its_store_and_a_joined_consumer_is_ready() -> None:
    readiness = Readiness(store_timeout=1.0)
    readiness.add_store("dossiercontrole", Store().ping)
    readiness.add_consumer(Consumer("assigned"))
    readiness.producer_started = True

    assert await readiness.problems() == {}


async def test_a_replica_waiting_for_partitions_is_ready_one_without_a_consumer_is_not() -> None:
    readiness = Readiness()
    readiness.producer_started = True
    joining = Consumer("joining")
    readiness.add_consumer(joining)
    # More replicas than partitions: this one joined the group but owns nothing; it still
    # serves HTTP.
    assert await readiness.problems() == {}

    # Between two connections to the broker it has no consumer at all.
    joining.state = "connecting"
    assert await readiness.problems() == {"consumer:actiepunten.test": "connecting"}


async def test_before_the_producer_started_the_service_is_not_ready() -> None:
    readiness = Readiness()
    assert await readiness.problems() == {"producer": "not started"}


async def test_a_store_that_fails_makes_the_service_unready_until_it_answers_again() -> None:
    store = Store()
    readiness = Readiness(store_timeout=1.0)
    readiness.add_store("portal", store.ping)
    readiness.producer_started = True

    store.error = ConnectionError('connection to "db.internal" (10.0.0.7), user "app" refused')
    # What failed is named; the driver's text (hosts, users) stays in the log.
    assert await readiness.problems() == {"store:portal": "unavailable (ConnectionError)"}

    store.error = None
    assert await readiness.problems() == {}


async def test_a_store_that_hangs_is_reported_without_waiting_for_it_and_asked_once() -> None:
    store = Store()
    calls = 0

    def ping() -> None:
        nonlocal calls
        calls += 1
        store.ping()

    readiness = Readiness(store_timeout=0.2)
    readiness.add_store("scenario", ping)
    readiness.producer_started = True

    # The database stopped answering: each probe answers within its deadline ...
    store.released.clear()
    assert await readiness.problems() == {"store:scenario": "no answer within 0.2 s"}
    assert await readiness.problems() == {"store:scenario": "no answer within 0.2 s"}
    # ... and does not pile up another question while the first still waits.
    assert calls == 1

    # It answers again.
    store.released.set()
    assert await readiness.problems() == {}


async def test_once_shutdown_begins_the_service_is_not_ready_whatever_else_holds() -> None:
    readiness = Readiness(store_timeout=1.0)
    readiness.add_store("dossiercontrole", Store().ping)
    readiness.add_consumer(Consumer("assigned"))
    readiness.producer_started = True
    assert await readiness.problems() == {}

    # SIGTERM: the load balancer takes the replica out while it finishes its work.
    readiness.shutting_down = True
    assert await readiness.problems() == {"shutdown": "shutting down"}
