"""Which of a service's replicas publishes its outbox: a lease that trusts no wall clock.

Replicas share one store; without a lease each relay would publish every batch (the same ids,
so harmless to consumers that track ids, but doubled, and an older copy sent after a newer
event rolls back a consumer that reads ``ScenarioScheduled`` as an upsert).

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) taken on a connection of its
  own that is held while the relay publishes. The database ends the lock when the connection
  ends (a replica that died, or lost its network), so no clock decides who holds it. Needs a
  direct connection (not a transaction-pooling PgBouncer).
- SQLite: an exclusive ``flock`` on a file beside the database, for replicas on one machine
  sharing the file; the kernel drops it when the process dies.
- In memory (tests): one process, one relay; no lease.

``held()`` is the fencing check: the relay asks it immediately before it sends a batch, and
records its progress only when the position it started from is still the recorded one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Lease(Protocol):
    def acquire(self) -> bool:
        """Take the lease if it is free; True while this relay holds it. Never blocks."""

    def held(self) -> bool:
        """True if the lease is still ours, checked with the store (not with a clock)."""

    def release(self) -> None:
        """Give the lease up (the next relay to ask takes it)."""

    def fence(self, tracking_name: str) -> tuple[bool, int | None]:
        """``held()``, and the position recorded under ``tracking_name`` where the lease reads
        it in the same query (None: the caller asks the store)."""


class NoLease:
    """A single relay: always held."""

    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def fence(self, tracking_name: str) -> tuple[bool, int | None]:
        return True, None


class FileLease:
    """An exclusive ``flock`` on ``path``, held from ``acquire`` until ``release`` or exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        # A flock cannot be taken away from a living process that holds the descriptor.
        return self._fd is not None

    def fence(self, tracking_name: str) -> tuple[bool, int | None]:
        return self.held(), None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresAdvisoryLease:
    """A session advisory lock on a dedicated connection (``connect`` makes one). A relay that
    waits for the lease keeps its connection and asks again on it, rather than reconnecting.

    Once taken, ``acquire`` asks the database nothing: the relay's fence (``held`` or ``fence``,
    just before it sends) finds a lock lost with its session, and gives the lease up so that
    the next ``acquire`` asks for it again. ``tracking``: the schema and table of the store's
    tracking positions, so that ``fence`` reads the relay's position in the same query."""

    def __init__(self, connect: Any, name: str, tracking: tuple[str, str] | None = None) -> None:
        self._connect = connect
        self.name = name
        self.key = advisory_key(name)
        self.tracking = tracking
        self._conn: Any = None
        self._holding = False

    def acquire(self) -> bool:
        if self._holding:
            return True
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except Exception:
            self.release()
            raise
        self._holding = bool(row and row[0])
        if self._holding:
            log.info("lease %s taken", self.name)
        return self._holding

    _HELD = (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
        "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
        "AND classid::bigint = %s AND objid::bigint = %s)"
    )

    def held(self) -> bool:
        return self._ask(self._HELD, ())[0]

    def fence(self, tracking_name: str) -> tuple[bool, int | None]:
        if self.tracking is None:
            return self.held(), None
        from psycopg import sql

        position = sql.SQL(
            ", (SELECT MAX(notification_id) FROM {}.{} WHERE application_name = %s)"
        ).format(sql.Identifier(self.tracking[0]), sql.Identifier(self.tracking[1]))
        held, recorded = self._ask(sql.SQL(self._HELD) + position, (tracking_name,))
        return held, recorded or 0

    def _ask(self, query: Any, params: tuple[Any, ...]) -> tuple[bool, Any]:
        """Whether the lock is held (and what else ``query`` selects) on the lease's session; a
        lock found lost is given up, for the next ``acquire`` to ask for again."""
        conn = self._conn
        if not self._holding or conn is None:
            return False, None
        key = ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF)
        try:
            row = conn.execute(query, (*key, *params)).fetchone()
        except Exception as error:
            log.warning("lease %s lost with its connection: %s", self.name, error)
            row = None
        if not (row and row[0]):
            self.release()
            return False, None
        return True, row[1] if len(row) > 1 else None

    def release(self) -> None:
        conn, self._conn, self._holding = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()  # ends the session, and with it the lock


def lease_for(app: Any, name: str) -> Lease:
    """The lease that fits the store of ``app`` (an eventsourcing application)."""
    datastore = getattr(app.recorder, "datastore", None)
    pool = getattr(datastore, "pool", None)
    if datastore is not None and hasattr(datastore, "schema") and pool is not None:
        import psycopg

        params = {k: v for k, v in pool.kwargs.items() if k != "row_factory"}
        schema = datastore.schema

        def connect() -> Any:
            return psycopg.connect(**params, autocommit=True, connect_timeout=5)

        tracking = getattr(app.recorder, "tracking_table_name", None)
        return PostgresAdvisoryLease(
            connect,
            f"{params.get('dbname')}.{schema}.{name}",
            tracking=(schema, tracking) if tracking else None,
        )
    db_name = getattr(pool, "db_name", None)
    if isinstance(db_name, str) and db_name and not getattr(pool, "is_sqlite_memory_mode", True):
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)
        return FileLease(Path(f"{db_name}.{safe}.lock"))
    return NoLease()
