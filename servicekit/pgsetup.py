"""Start-up on PostgreSQL: wait for the database, then create schemas and tables one replica at
a time.

Replicas of a first deployment start together on a fresh database. ``CREATE SCHEMA IF NOT
EXISTS`` and ``CREATE TABLE IF NOT EXISTS`` are not safe against each other in PostgreSQL: two
at once fail with a duplicate key in ``pg_type`` or ``pg_namespace`` ("tuple concurrently
updated", or eventsourcing's migration tracking), and the replica crashes. So a service is
assembled (its stores opened, which creates what is missing) while it holds one advisory lock
of the database; the next replica finds everything there. The lock needs a direct connection
(PgBouncer in transaction pooling would lose it). A database that is not up yet (its cluster
still starting) is waited for rather than crashed on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from servicekit.settings import Settings

log = logging.getLogger(__name__)

SETUP_LOCK = int.from_bytes(hashlib.sha256(b"actiepunten:setup").digest()[:8], "big", signed=True)
"""The advisory lock key (bigint) that start-ups of every service take in turn."""
FIRST_CONNECTION_SECONDS = 120.0
"""How long a start waits for the database (Kubernetes' startup probe allows five minutes)."""

T = TypeVar("T")


def first_connection(
    params: dict[str, Any],
    *,
    seconds: float = FIRST_CONNECTION_SECONDS,
    connect: Callable[..., Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """A connection to the database, retried with backoff while it refuses (not there yet,
    starting up, too many connections) for up to ``seconds``; then the last error."""
    import psycopg

    connect = connect or psycopg.connect
    deadline = time.monotonic() + seconds
    delay = 0.5
    while True:
        try:
            return connect(**params, autocommit=True)
        except psycopg.OperationalError as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "PostgreSQL at %s:%s not reachable yet (%s); retrying in %.1f s",
                params.get("host"),
                params.get("port"),
                type(error).__name__,
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, 10.0)


@contextmanager
def setup_lock(settings: Settings) -> Iterator[None]:
    """Held while this process creates what it needs in the database; nothing on SQLite."""
    if settings.persistence != "postgres":
        yield
        return
    with first_connection(settings.postgres_params()) as conn:
        started = time.monotonic()
        conn.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK,))
        waited = time.monotonic() - started
        if waited > 1:
            log.info("waited %.1f s for another replica's start-up in the database", waited)
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK,))


def assembled(create_app: Callable[[Settings], T], settings: Settings) -> T:
    """The service's app, built (stores opened, schemas and tables created) under the lock."""
    with setup_lock(settings):
        return create_app(settings)
