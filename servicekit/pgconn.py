"""One connection kept open for small, frequent statements (the data keys, the owners of sealed
aggregates): opening one per statement costs more than the statement. One statement at a time.
On PostgreSQL (``KeptConnection``) a lost connection is closed and the next statement opens a new
one; a SQLite side file (``KeptSqlite``) is in WAL mode, one fsync a commit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
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


class KeptSqlite:
    """One SQLite connection kept open: a file's, or memory's for a store in memory. Each
    ``connection()`` is one transaction, committed (or rolled back) at its end. The file is in
    WAL mode: a commit is one fsync of the log (the default journal takes three), still
    ``synchronous=FULL``."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path), timeout=30, check_same_thread=False
        )
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
