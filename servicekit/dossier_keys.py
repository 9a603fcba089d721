"""The key ring of a store that seals a dossier's personal data with keys it does not keep
(SPEC section 11): the dossier check keeps every dossier's data key (one table, one KEK place);
another service asks it for them (``POST /data-keys`` with ``"make": true``, a ``service``
token), as the scenario service does for an adviser's document requests, households and
lenders' document lists.

``DossierKeys`` knows which of its store's aggregates belong to which (tenant, dossier): each
one that holds personal data is entered in a small table beside the store when it is first
saved (``key_owners``: ``<store>-key-owners.sqlite`` beside a SQLite store, or a table in the
service's PostgreSQL schema), so a fresh process opens what an earlier one stored. Keys are kept
in memory for at most ``KEEP_KEYS_SECONDS`` (a dossier erased meanwhile reads as erased within
that time); a dossier check that does not answer is ``KeysUnreachable``. A store in memory
(unit tests) keeps its keys in memory too (``MemoryKeySource``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import httpx

from servicekit.crypto import new_data_key
from servicekit.pgconn import KeptConnection, KeptSqlite, params_of_store
from servicekit.sealed_events import Recent, ServiceTokens, keys_in
from servicekit.sealing import GONE, Gone, KeysUnreachable

KEEP_KEYS_SECONDS = 30.0
"""How long a key is kept in memory before the dossier check is asked again (as its own
replicas do): a dossier erased there reads as erased here within that time."""
MAX_AT_ONCE = 1000  # dossiers one ``POST /data-keys`` asks for (the route's limit)

Owner = tuple[str, str]
"""(tenant, dossier_id)"""


class KeySource(Protocol):
    """Where the dossiers' keys are: made for a dossier that has none, ``GONE`` once erased."""

    def keys(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]: ...


class HttpKeySource:
    """The dossier check's ``POST /data-keys`` with ``"make": true`` (synchronous: the event
    store's API is; a save asks once for all the dossiers of its aggregates)."""

    def __init__(self, base_url: str, secret: str, *, name: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.name = name
        self._client = httpx.Client(timeout=timeout)
        self._tokens = ServiceTokens(secret, name)

    def keys(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        found: dict[str, bytes | Gone] = {}
        for start in range(0, len(dossier_ids), MAX_AT_ONCE):
            found.update(self._ask(tenant, dossier_ids[start : start + MAX_AT_ONCE]))
        return found

    def _ask(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        url = f"{self.base_url}/data-keys"
        if not self.secret:
            raise KeysUnreachable(f"ACTIEPUNTEN_JWT_SECRET is not set: cannot ask {url} for keys")
        headers = {"Authorization": f"Bearer {self._tokens.of(tenant)}"}
        try:
            response = self._client.post(
                url, headers=headers, json={"dossier_ids": dossier_ids, "make": True}
            )
        except httpx.HTTPError as error:
            raise KeysUnreachable(
                f"the dossier check does not answer for data keys ({url}): {error}"
            ) from None
        if response.status_code != 200:
            raise KeysUnreachable(
                f"the dossier check answered {response.status_code} for data keys ({url}): "
                f"{response.text[:200]}"
            )
        return keys_in(response.json())

    def close(self) -> None:
        self._client.close()


class MemoryKeySource:
    """Keys made in memory, for a store in memory (unit tests); ``erase`` destroys one."""

    def __init__(self) -> None:
        self._keys: dict[Owner, bytes | Gone] = {}
        self._lock = threading.Lock()

    def keys(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        with self._lock:
            return {
                dossier: self._keys.setdefault((tenant, dossier), new_data_key())
                for dossier in dossier_ids
            }

    def erase(self, tenant: str, dossier_id: str) -> None:
        with self._lock:
            self._keys[(tenant, dossier_id)] = GONE


class OwnerTable(Protocol):
    """aggregate id -> (tenant, dossier), written once per aggregate, never changed."""

    def add(self, owners: Mapping[UUID, Owner]) -> None: ...

    def get(self, aggregate_id: UUID) -> Owner | None: ...


_OWNERS = (
    "CREATE TABLE IF NOT EXISTS {table} (aggregate_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,"
    " dossier_id TEXT NOT NULL)"
)
_ADD = (
    "INSERT INTO {table} (aggregate_id, tenant, dossier_id) VALUES (?, ?, ?) "
    "ON CONFLICT (aggregate_id) DO NOTHING"
)
_GET = "SELECT tenant, dossier_id FROM {table} WHERE aggregate_id = ?"


class SqliteOwners:
    """The owners in a SQLite file (None: in memory, for a store in memory), over one connection
    kept open (``KeptSqlite``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._kept = KeptSqlite(path)
        self._connect = self._kept.connection
        with self._connect() as conn:
            conn.execute(_OWNERS.format(table="key_owners"))

    def add(self, owners: Mapping[UUID, Owner]) -> None:
        with self._connect() as conn:
            conn.executemany(
                _ADD.format(table="key_owners"),
                [(str(a), tenant, dossier) for a, (tenant, dossier) in owners.items()],
            )

    def get(self, aggregate_id: UUID) -> Owner | None:
        with self._connect() as conn:
            row = conn.execute(_GET.format(table="key_owners"), (str(aggregate_id),)).fetchone()
        return None if row is None else (row[0], row[1])

    def close(self) -> None:
        self._kept.close()


class PostgresOwners:
    """The owners in a table of the service's PostgreSQL schema, shared by its replicas. One
    connection kept open (a new one per save cost more than the save's own statements)."""

    def __init__(self, params: dict[str, Any], schema: str) -> None:
        self.params = params
        self.table = f'"{schema}".key_owners'
        self._kept = KeptConnection(params)
        self._connect = self._kept.connection
        with self._connect() as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            conn.execute(_OWNERS.format(table=self.table))  # type: ignore[arg-type]

    def _sql(self, sql: str) -> str:
        return sql.format(table=self.table).replace("?", "%s")

    def add(self, owners: Mapping[UUID, Owner]) -> None:
        with self._connect() as conn, conn.cursor() as cursor:
            cursor.executemany(
                self._sql(_ADD),  # type: ignore[arg-type]
                [(str(a), tenant, dossier) for a, (tenant, dossier) in owners.items()],
            )

    def get(self, aggregate_id: UUID) -> Owner | None:
        with self._connect() as conn:
            row = conn.execute(self._sql(_GET), (str(aggregate_id),)).fetchone()  # type: ignore[arg-type]
        return None if row is None else (row[0], row[1])

    def close(self) -> None:
        self._kept.close()


class DossierKeys:
    """The ``KeyRing`` (``servicekit.sealing``) of a store whose aggregates that hold personal
    data (``holds_personal``) each belong to one dossier (their ``tenant`` and ``dossier_id``)."""

    def __init__(
        self, source: KeySource, owners: OwnerTable, holds_personal: Callable[[Any], bool]
    ) -> None:
        self.source = source
        self.owners = owners
        self.holds_personal = holds_personal
        self._owners: Recent[UUID, Owner | None] = Recent()
        self._keys: Recent[Owner, tuple[float, bytes | Gone]] = Recent()
        self._lock = threading.Lock()

    def key_of(self, aggregate_id: UUID, *, fresh: bool = False) -> bytes | Gone | None:
        owner = self._owner(aggregate_id, fresh=fresh)
        if owner is None:
            return None
        return self._key(owner, fresh=fresh)

    def ensure(self, aggregates: Sequence[Any]) -> None:
        new: dict[UUID, Owner] = {}
        wanted: dict[str, set[str]] = {}
        for aggregate in aggregates:
            if not self.holds_personal(aggregate):
                continue
            owner: Owner = (aggregate.tenant, aggregate.dossier_id)
            if self._owners.get(aggregate.id) != owner:
                new[aggregate.id] = owner
            if self._kept(owner) is None:
                wanted.setdefault(owner[0], set()).add(owner[1])
        for tenant, dossiers in wanted.items():
            self._fetch(tenant, sorted(dossiers))
        if new:
            self.owners.add(new)  # before its events: a fresh process finds their key
            with self._lock:
                self._owners.update(new)

    def published_key(self, tenant: str, dossier_id: str) -> bytes | Gone | None:
        return self._key((tenant, dossier_id), fresh=False)

    def _owner(self, aggregate_id: UUID, *, fresh: bool) -> Owner | None:
        if not fresh and aggregate_id in self._owners:
            return self._owners.get(aggregate_id)
        owner = self.owners.get(aggregate_id)
        with self._lock:
            self._owners[aggregate_id] = owner
        return owner

    def _key(self, owner: Owner, *, fresh: bool) -> bytes | Gone:
        kept = None if fresh else self._kept(owner)
        if kept is not None:
            return kept
        return self._fetch(owner[0], [owner[1]])[owner[1]]

    def _kept(self, owner: Owner) -> bytes | Gone | None:
        kept = self._keys.get(owner)
        if kept is not None and (isinstance(kept[1], Gone) or kept[0] > time.monotonic()):
            return kept[1]
        return None

    def _fetch(self, tenant: str, dossiers: list[str]) -> dict[str, bytes | Gone]:
        found = self.source.keys(tenant, dossiers)
        until = time.monotonic() + KEEP_KEYS_SECONDS
        with self._lock:
            for dossier in dossiers:
                found.setdefault(dossier, GONE)  # a key it would not make: read as erased
                self._keys[(tenant, dossier)] = (until, found[dossier])
        return found

    def close(self) -> None:
        for part in (self.source, self.owners):
            close = getattr(part, "close", None)
            if close is not None:
                close()


def dossier_keys_for_store(
    env: Mapping[str, str],
    holds_personal: Callable[[Any], bool],
    *,
    name: str,
    source: KeySource | None = None,
) -> DossierKeys:
    """The ring of the store given by its ``eventsourcing`` environment: its owners in a table
    beside it (a store in memory: in memory, with keys made in memory unless ``source``), the
    keys from the dossier check (``ACTIEPUNTEN_DOSSIERCONTROLE_URL`` or its host and port, a
    ``service`` token signed with ``ACTIEPUNTEN_JWT_SECRET``, sub ``name``)."""
    from servicekit.settings import service_url

    module = env.get("PERSISTENCE_MODULE") or ""
    dbname = env.get("SQLITE_DBNAME") or ""
    owners: OwnerTable
    if "postgres" in module:  # eventsourcing.postgres, servicekit.postgres_store
        params = params_of_store(env)
        owners = PostgresOwners(params, env.get("POSTGRES_SCHEMA") or "public")
    elif module.endswith("sqlite") and "memory" not in dbname:
        store = Path(dbname).resolve()
        owners = SqliteOwners(store.parent / f"{store.stem}-key-owners.sqlite")
    else:
        return DossierKeys(source or MemoryKeySource(), SqliteOwners(None), holds_personal)
    if source is None:
        secret = os.environ.get("ACTIEPUNTEN_JWT_SECRET", "")
        source = HttpKeySource(service_url("dossiercontrole"), secret, name=name)
    return DossierKeys(source, owners, holds_personal)
