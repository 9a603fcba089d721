"""The dossiers' data keys (SPEC section 11), wrapped by the KEK (``servicekit.crypto``).

Kept outside the event store, in a table whose rows can be changed: the event log is append-only,
and erasing a dossier must destroy its key for good (the row keeps only when it was erased, so
that a consumer asking for the key learns it is gone: 410). On SQLite a file in the data dir, on
PostgreSQL a table in the service's schema that every replica shares.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from cryptography.exceptions import InvalidTag

from servicekit.crypto import KeyEncryptionKeys, KeyFileError, WrappedKey, new_data_key
from servicekit.domain import DomainError
from servicekit.settings import Settings

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " tenant TEXT NOT NULL, dossier_id TEXT NOT NULL, kek_id TEXT, wrapped {blob},"
    " created_at TEXT NOT NULL, erased_at TEXT, PRIMARY KEY (tenant, dossier_id))"
)


class KeyErased(DomainError):
    """The dossier was erased: its data key is gone for good (410)."""

    status = 410


class KeysUnavailable(DomainError):
    """A data key that this process's KEK file cannot open (another replica's file, or a lost
    one): 503, and the log says why; never a key made up in its place."""

    status = 503


class DataKeys:
    """Each dossier's data key, made on first use, destroyed on erasure."""

    def __init__(self, keks: KeyEncryptionKeys, db: _Database) -> None:
        self.keks = keks
        self.db = db

    def key_for(self, tenant: str, dossier_id: str) -> bytes:
        """The dossier's data key, made now if it has none (``KeyErased`` once erased)."""
        found = self.get(tenant, dossier_id)
        if found is not None:
            return found
        wrapped = self.keks.wrap(new_data_key())
        self.db.run(
            "INSERT INTO {table} (tenant, dossier_id, kek_id, wrapped, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, dossier_id) DO NOTHING",
            (tenant, dossier_id, wrapped.kek_id, wrapped.blob, _now()),
        )
        made = self.get(tenant, dossier_id)  # ours, or a replica's made at the same moment
        assert made is not None
        return made

    def get(self, tenant: str, dossier_id: str) -> bytes | None:
        """The dossier's data key; None when it never had one; ``KeyErased`` once erased."""
        rows = self.db.rows(
            "SELECT kek_id, wrapped, erased_at FROM {table} WHERE tenant = ? AND dossier_id = ?",
            (tenant, dossier_id),
        )
        if not rows:
            return None
        kek_id, wrapped, erased_at = rows[0]
        if erased_at is not None:
            raise KeyErased(f"dossier {dossier_id} was erased at {erased_at}: its key is gone")
        try:
            return self.keks.unwrap(WrappedKey(kek_id, bytes(wrapped)))
        except (InvalidTag, KeyFileError):
            log.error(
                "the data key of dossier %s does not open with KEK %r of ACTIEPUNTEN_KEK_FILE: "
                "every replica needs the same file",
                dossier_id,
                kek_id,
            )
            raise KeysUnavailable("the dossier's data key cannot be opened here") from None

    def erase(self, tenant: str, dossier_id: str, at: datetime) -> None:
        """Destroy the dossier's key (idempotent); a dossier that had none gets the mark."""
        self.db.run(
            "INSERT INTO {table} AS k (tenant, dossier_id, created_at, erased_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (tenant, dossier_id) DO UPDATE SET kek_id = NULL, "
            "wrapped = NULL, erased_at = COALESCE(k.erased_at, excluded.erased_at)",
            (tenant, dossier_id, _now(), at.astimezone(UTC).isoformat()),
        )

    def rewrap(self) -> int:
        """Wrap every key that an older KEK wrapped with the current one (rotation); how many."""
        rows = self.db.rows(
            "SELECT tenant, dossier_id, kek_id, wrapped FROM {table} "
            "WHERE wrapped IS NOT NULL AND kek_id <> ?",
            (self.keks.current,),
        )
        for tenant, dossier_id, kek_id, wrapped in rows:
            again = self.keks.rewrap(WrappedKey(kek_id, bytes(wrapped)))
            self.db.run(
                "UPDATE {table} SET kek_id = ?, wrapped = ? "
                "WHERE tenant = ? AND dossier_id = ? AND kek_id = ?",
                (again.kek_id, again.blob, tenant, dossier_id, kek_id),
            )
        return len(rows)


class _Database(Protocol):
    """The two stores' few statements (``?`` placeholders, ``{table}``)."""

    def run(self, sql: str, params: tuple[Any, ...]) -> None: ...

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...


class SqliteKeys:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        with self._connect() as conn:
            conn.execute(_SCHEMA.format(table="data_keys", blob="BLOB"))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:
                    yield conn
            finally:
                conn.close()

    def run(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._connect() as conn:
            conn.execute(sql.format(table="data_keys"), params)

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return list(conn.execute(sql.format(table="data_keys"), params))


class PostgresKeys:
    def __init__(self, params: dict[str, Any], schema: str) -> None:
        self.params = params
        self.table = f'"{schema}".data_keys'
        with self._connect() as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(_SCHEMA.format(table=self.table, blob="bytea"))

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**self.params, autocommit=True)

    def _sql(self, sql: str) -> str:
        return sql.format(table=self.table).replace("?", "%s")

    def run(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._connect() as conn:
            conn.execute(self._sql(sql), params)  # type: ignore[arg-type]

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return list(conn.execute(self._sql(sql), params).fetchall())  # type: ignore[arg-type]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def data_keys(config: Settings) -> DataKeys:
    """The service's data keys, wrapped by the KEKs of ``ACTIEPUNTEN_KEK_FILE``. Unset: a file
    ``kek`` in the data dir, made (mode 0600) on first start: for one machine and local use;
    replicas on several machines need the one file, from a secret."""
    named = os.environ.get("ACTIEPUNTEN_KEK_FILE", "")
    path = Path(named) if named else config.data_dir / "kek"
    if not named and not path.exists():
        config.data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(KeyEncryptionKeys.new_line("kek-1"))
        log.warning("ACTIEPUNTEN_KEK_FILE is not set: made %s (keep it, or lose the keys)", path)
    keks = KeyEncryptionKeys.from_file(path)
    if config.persistence == "postgres" and not named:
        log.warning(
            "ACTIEPUNTEN_KEK_FILE is not set: replicas on other machines make other KEKs and "
            "cannot open each other's data keys; give every replica the same file"
        )
    if config.persistence == "postgres":
        return DataKeys(
            keks, PostgresKeys(config.postgres_params(), f"actiepunten_{config.service}")
        )
    return DataKeys(keks, SqliteKeys(config.data_dir / "data-keys.sqlite"))
