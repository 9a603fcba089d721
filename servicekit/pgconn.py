"""One PostgreSQL connection kept open for small, frequent statements (the data keys, the
owners of sealed aggregates): opening one per statement costs more than the statement. One
statement at a time; a lost connection is closed and the next statement opens a new one."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg


def params_of_store(env: Mapping[str, str]) -> dict[str, Any]:
    """psycopg's connection parameters of a PostgreSQL store given by its ``eventsourcing``
    environment (``POSTGRES_*``), for a side table beside it."""
    return {
        "host": env.get("POSTGRES_HOST") or "127.0.0.1",
        "port": int(env.get("POSTGRES_PORT") or "5432"),
        "user": env.get("POSTGRES_USER") or "postgres",
        "password": env.get("POSTGRES_PASSWORD") or None,
        "dbname": env.get("POSTGRES_DBNAME") or "actiepunten",
        "connect_timeout": 5,
    }


class KeptConnection:
    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(**self.params, autocommit=True)
            try:
                yield self._conn
            except psycopg.OperationalError:
                self._conn.close()
                self._conn = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
