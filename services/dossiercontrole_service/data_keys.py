"""The dossiers' data keys (SPEC section 11), wrapped by the KEK (``servicekit.crypto``).

Kept outside the event store, in a table whose rows can be changed: the event log is append-only,
and erasing a dossier must destroy its key for good (the row keeps only when it was erased, so
that a consumer asking for the key learns it is gone: 410). On SQLite a file in the data dir, on
PostgreSQL a table in the service's schema that every replica shares. ``DataKeys`` is the
dossier check's ``KeyRing`` (``servicekit.sealing``): a dossier check's stored events and its
integration events are sealed with its key, looked up by the aggregate's id or by the dossier.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag

from servicekit.crypto import KeyEncryptionKeys, KeyFileError, WrappedKey, is_sealed, new_data_key
from servicekit.domain import DomainError
from servicekit.pgconn import KeptConnection, KeptSqlite, params_of_store
from servicekit.sealed_events import Recent
from servicekit.sealing import GONE, Gone, open_published, published_context
from servicekit.settings import Settings
from services.dossiercontrole_service.domainmodel import DossierCheck
from shared.events.personal import personal_values

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {table} ("
    " tenant TEXT NOT NULL, dossier_id TEXT NOT NULL, kek_id TEXT, wrapped {blob},"
    " created_at TEXT NOT NULL, erased_at TEXT, PRIMARY KEY (tenant, dossier_id))"
)
_BY_AGGREGATE = "CREATE UNIQUE INDEX IF NOT EXISTS data_keys_by_aggregate ON {table} (aggregate_id)"
KEEP_KEYS_SECONDS = 30.0
"""How long a replica keeps a key in memory before it asks the table again: a dossier another
replica erased reads as erased here within that time."""


class KeyErased(DomainError):
    """The dossier was erased: its data key is gone for good (410)."""

    status = 410


class KeysUnavailable(DomainError):
    """A data key that this process's KEK file cannot open (another replica's file, or a lost
    one): 503, and the log says why; never a key made up in its place."""

    status = 503


class DataKeys:
    """Each dossier's data key, made on first use, destroyed on erasure (the ``KeyRing`` of
    the dossier check's store)."""

    def __init__(self, keks: KeyEncryptionKeys, db: _Database) -> None:
        self.keks = keks
        self.db = db
        self._kept: Recent[UUID, tuple[float, bytes | Gone | None]] = Recent()
        self._lock = threading.Lock()
        db.add_aggregate_column()
        db.run(_BY_AGGREGATE, ())
        for tenant, dossier_id in db.rows(
            "SELECT tenant, dossier_id FROM {table} WHERE aggregate_id IS NULL", ()
        ):  # keys made before they were looked up by aggregate
            db.run(
                "UPDATE {table} SET aggregate_id = ? WHERE tenant = ? AND dossier_id = ?",
                (str(DossierCheck.create_id(tenant, dossier_id)), tenant, dossier_id),
            )

    def key_for(self, tenant: str, dossier_id: str) -> bytes:
        """The dossier's data key, made now if it has none (``KeyErased`` once erased)."""
        found = self.get(tenant, dossier_id)
        if found is not None:
            return found
        self._insert_new(tenant, [dossier_id])
        made = self.get(tenant, dossier_id)  # ours, or a replica's made at the same moment
        assert made is not None
        self._keep(DossierCheck.create_id(tenant, dossier_id), made)
        return made

    def _insert_new(self, tenant: str, dossier_ids: Sequence[str]) -> None:
        """A new key for each of ``dossier_ids``, in one transaction (one commit, one fsync: a
        batch of new dossiers asks for its keys at once); one that has a row already (a
        replica's key made at the same moment, or an erased dossier's) keeps it."""
        at = _now()
        rows = []
        for dossier_id in dossier_ids:
            wrapped = self.keks.wrap(new_data_key())
            aggregate_id = DossierCheck.create_id(tenant, dossier_id)
            rows.append((tenant, dossier_id, str(aggregate_id), wrapped.kek_id, wrapped.blob, at))
        self.db.run_many(
            "INSERT INTO {table} (tenant, dossier_id, aggregate_id, kek_id, wrapped, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, dossier_id) DO NOTHING",
            rows,
        )

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
        return self._unwrapped(dossier_id, kek_id, wrapped)

    def many(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        """The keys of the office's dossiers that have one (``GONE`` for an erased one), in one
        query: what a consumer replaying a topic asks for a batch at a time."""
        marks = ", ".join("?" for _ in dossier_ids)
        rows = self.db.rows(
            "SELECT dossier_id, kek_id, wrapped, erased_at FROM {table} "
            f"WHERE tenant = ? AND dossier_id IN ({marks})",
            (tenant, *dossier_ids),
        )
        return {
            dossier: GONE if erased_at is not None else self._unwrapped(dossier, kek_id, wrapped)
            for dossier, kek_id, wrapped, erased_at in rows
        }

    def kept(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone] | None:
        """The keys of ``dossier_ids`` if this process keeps every one of them (made or read
        within ``KEEP_KEYS_SECONDS``), without asking the table; None otherwise. What a consumer
        asks for right after the dossier check published a dossier's first events."""
        found: dict[str, bytes | Gone] = {}
        now = time.monotonic()
        for dossier in dossier_ids:
            kept = self._kept.get(DossierCheck.create_id(tenant, dossier))
            if kept is None or not _fresh(kept, now) or kept[1] is None:
                return None
            found[dossier] = kept[1]
        return found

    def _unwrapped(self, dossier: str, kek_id: str, wrapped: bytes) -> bytes:
        try:
            return self.keks.unwrap(WrappedKey(kek_id, bytes(wrapped)))
        except (InvalidTag, KeyFileError):
            log.error(
                "the data key of dossier %s does not open with KEK %r of ACTIEPUNTEN_KEK_FILE: "
                "every replica needs the same file",
                dossier,
                kek_id,
            )
            raise KeysUnavailable("the dossier's data key cannot be opened here") from None

    # --- the KeyRing of the store (servicekit.sealing) ------------------------------------------

    def key_of(self, aggregate_id: UUID, *, fresh: bool = False) -> bytes | Gone | None:
        kept = None if fresh else self._kept.get(aggregate_id)
        if kept is not None and _fresh(kept, time.monotonic()):
            return kept[1]
        rows = self.db.rows(
            "SELECT kek_id, wrapped, erased_at FROM {table} WHERE aggregate_id = ?",
            (str(aggregate_id),),
        )
        found: bytes | Gone | None = None
        if rows:
            kek_id, wrapped, erased_at = rows[0]
            found = (
                GONE
                if erased_at is not None
                else self._unwrapped(str(aggregate_id), kek_id, wrapped)
            )
        self._keep(aggregate_id, found)
        return found

    def ensure(self, aggregates: Sequence[Any]) -> None:
        """Every dossier check in ``aggregates`` has its key (made now, all in one transaction,
        for those that have none; an erased dossier's reads as ``GONE``)."""
        wanted: dict[str, set[str]] = {}
        for aggregate in aggregates:
            if not isinstance(aggregate, DossierCheck):
                continue
            kept = self._kept.get(aggregate.id)
            if kept is not None and kept[1] is not None:
                continue
            wanted.setdefault(aggregate.tenant, set()).add(aggregate.dossier_id)
        for tenant, dossiers in wanted.items():
            self.made(tenant, sorted(dossiers))

    def made(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        """``many``, and a key made now for each dossier that has none (an erased one stays
        erased), in one transaction: what another store that seals a dossier's personal data
        asks for (the scenario service may hear of a dossier before the dossier check does)."""
        found = self.many(tenant, dossier_ids)
        missing = [dossier for dossier in dossier_ids if dossier not in found]
        if missing:
            self._insert_new(tenant, missing)
            found.update(self.many(tenant, missing))  # ours, or a replica's made meanwhile
            if any(dossier not in found for dossier in missing):
                raise KeysUnavailable("a data key was made but is not in the table")
        for dossier, key in found.items():
            self._keep(DossierCheck.create_id(tenant, dossier), key)
        return found

    def published_key(self, tenant: str, dossier_id: str) -> bytes | Gone | None:
        return self.key_of(DossierCheck.create_id(tenant, dossier_id))

    def _keep(self, aggregate_id: UUID, key: bytes | Gone | None) -> None:
        with self._lock:
            self._kept[aggregate_id] = (time.monotonic() + KEEP_KEYS_SECONDS, key)

    # --- erasure and rotation ---------------------------------------------------------------------

    def erase(self, tenant: str, dossier_id: str, at: datetime) -> None:
        """Destroy the dossier's key (idempotent); a dossier that had none gets the mark."""
        aggregate_id = DossierCheck.create_id(tenant, dossier_id)
        self.db.run(
            "INSERT INTO {table} AS k (tenant, dossier_id, aggregate_id, created_at, erased_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, dossier_id) DO UPDATE SET kek_id = NULL, "
            "wrapped = NULL, erased_at = COALESCE(k.erased_at, excluded.erased_at)",
            (tenant, dossier_id, str(aggregate_id), _now(), at.astimezone(UTC).isoformat()),
        )
        self._keep(aggregate_id, GONE)

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


class OpenedHere:
    """Opens the sealed personal fields of what the dossier check consumes (the scenario
    service's ``DocumentRequested``, sealed with keys it asked of this service) with its own
    ``DataKeys``, in process: the consumer's ``opener``."""

    def __init__(self, keys: DataKeys) -> None:
        self.keys = keys

    async def open(self, events: Sequence[Any]) -> list[Any]:
        sealed = [_sealed(event) for event in events]
        wanted: dict[str, set[str]] = {}
        for event, is_sealed_event in zip(events, sealed, strict=True):
            if is_sealed_event:
                wanted.setdefault(event.tenantid, set()).add(event.dossierid)
        found: dict[tuple[str, str], bytes | Gone] = {}
        for tenant, dossiers in wanted.items():
            keys = await asyncio.to_thread(self.keys.many, tenant, sorted(dossiers))
            found.update({(tenant, dossier): key for dossier, key in keys.items()})
        return [
            open_published(  # a dossier without a key (none was made): read as erased
                event,
                found.get((event.tenantid, event.dossierid)),
                published_context(event.tenantid, event.dossierid),
            )
            if is_sealed_event
            else event
            for event, is_sealed_event in zip(events, sealed, strict=True)
        ]


def _sealed(event: Any) -> bool:
    return event.dossierid is not None and any(is_sealed(v) for v in personal_values(event))


class _Database(Protocol):
    """The two stores' few statements (``?`` placeholders, ``{table}``)."""

    def run(self, sql: str, params: tuple[Any, ...]) -> None: ...

    def run_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """``sql`` once for each of ``rows``, in one transaction."""

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...

    def add_aggregate_column(self) -> None: ...


class SqliteKeys:
    """The keys in a SQLite file (None: in memory, for a store in memory), over one connection
    kept open (``KeptSqlite``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._connect = KeptSqlite(path).connection
        with self._connect() as conn:
            conn.execute(_SCHEMA.format(table="data_keys", blob="BLOB"))

    def add_aggregate_column(self) -> None:
        with self._connect() as conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(data_keys)")]
            if "aggregate_id" not in columns:
                conn.execute("ALTER TABLE data_keys ADD COLUMN aggregate_id TEXT")

    def run(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._connect() as conn:
            conn.execute(sql.format(table="data_keys"), params)

    def run_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._connect() as conn:  # one transaction: committed (or rolled back) at its end
            conn.executemany(sql.format(table="data_keys"), rows)

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return list(conn.execute(sql.format(table="data_keys"), params))


class PostgresKeys:
    """The keys in a table of the service's schema, over one connection kept open (a key is
    asked for at every new aggregate: a connection each time would cost more than the rest)."""

    def __init__(self, params: dict[str, Any], schema: str) -> None:
        self.params = params
        self.table = f'"{schema}".data_keys'
        self._connection = KeptConnection(params).connection
        with self._connection() as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(_SCHEMA.format(table=self.table, blob="bytea"))

    def add_aggregate_column(self) -> None:
        with self._connection() as conn:
            conn.execute(f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS aggregate_id TEXT")

    def _sql(self, sql: str) -> str:
        return sql.format(table=self.table).replace("?", "%s")

    def run(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._connection() as conn:
            conn.execute(self._sql(sql), params)  # type: ignore[arg-type]

    def run_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)  # type: ignore[arg-type]

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return list(conn.execute(self._sql(sql), params).fetchall())  # type: ignore[arg-type]


def _fresh(kept: tuple[float, bytes | Gone | None], now: float) -> bool:
    """Whether a kept answer still holds: an erased dossier's for good, a key (or that there is
    none) for ``KEEP_KEYS_SECONDS``."""
    return isinstance(kept[1], Gone) or kept[0] > now


def _now() -> str:
    return datetime.now(UTC).isoformat()


def data_keys(config: Settings) -> DataKeys:
    """The service's data keys, wrapped by the KEKs of ``ACTIEPUNTEN_KEK_FILE``. Unset: a file
    ``kek`` in the data dir, made (mode 0600) on first start: for one machine and local use;
    replicas on several machines need the one file, from a secret."""
    if config.persistence == "postgres":
        db: _Database = PostgresKeys(config.postgres_params(), f"actiepunten_{config.service}")
    else:
        db = SqliteKeys(config.data_dir / "data-keys.sqlite")
    return DataKeys(_keks(config.data_dir, shared=config.persistence == "postgres"), db)


def keys_for_store(env: Mapping[str, str]) -> DataKeys:
    """The data keys beside an event store given by its ``eventsourcing`` environment (as the
    operations commands and tests open a store): the same table the service uses; a store in
    memory keeps them in memory."""
    module = env.get("PERSISTENCE_MODULE") or ""
    data_dir = Path(os.environ.get("ACTIEPUNTEN_DATA_DIR", ".data")).resolve()
    if "postgres" in module:  # eventsourcing.postgres, servicekit.postgres_store
        params = params_of_store(env)
        db: _Database = PostgresKeys(params, env.get("POSTGRES_SCHEMA") or "public")
        return DataKeys(_keks(data_dir, shared=False), db)  # the service itself warns
    dbname = env.get("SQLITE_DBNAME") or ""
    if module.endswith("sqlite") and "memory" not in dbname:
        data_dir = Path(dbname).resolve().parent
        return DataKeys(_keks(data_dir, shared=False), SqliteKeys(data_dir / "data-keys.sqlite"))
    return DataKeys(KeyEncryptionKeys({"memory": os.urandom(32)}), SqliteKeys(None))


def _keks(data_dir: Path, *, shared: bool) -> KeyEncryptionKeys:
    named = os.environ.get("ACTIEPUNTEN_KEK_FILE", "")
    path = Path(named) if named else data_dir / "kek"
    if not named and not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(KeyEncryptionKeys.new_line("kek-1"))
        log.warning("ACTIEPUNTEN_KEK_FILE is not set: made %s (keep it, or lose the keys)", path)
    if shared and not named:
        log.warning(
            "ACTIEPUNTEN_KEK_FILE is not set: replicas on other machines make other KEKs and "
            "cannot open each other's data keys; give every replica the same file"
        )
    return KeyEncryptionKeys.from_file(path)
