"""One PostgreSQL connection kept open for small, frequent statements (the data keys, the
owners of sealed aggregates): opening one per statement costs more than the statement. One
statement at a time; a lost connection is closed and the next statement opens a new one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


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
