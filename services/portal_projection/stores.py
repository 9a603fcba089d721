"""Where the portal's read model lives: a SQLite file, or a PostgreSQL schema.

Both offer the same small surface to ``PortalView``: a transaction to write in (serialised per
read model), a query, and a name. SQL is written once with ``?`` placeholders.
After ``actiepunten replay portal`` a pointer names the read model to serve: a file beside the
SQLite databases, or a row in PostgreSQL (which every replica of the portal sees).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from servicekit.datadir import private_dir
from servicekit.settings import Settings

if TYPE_CHECKING:
    from shared.events.contracts import CloudEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS action_points (
    tenant TEXT NOT NULL,
    action_point_id TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    title TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    completed_at TEXT,
    removed_at TEXT,
    due_at TEXT,
    overdue INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    document_status TEXT,
    replaces_document_id TEXT,
    PRIMARY KEY (tenant, action_point_id)
);
CREATE INDEX IF NOT EXISTS action_points_by_dossier ON action_points (tenant, dossier_id);
CREATE TABLE IF NOT EXISTS documents (
    tenant TEXT NOT NULL,
    document_id TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    document_type TEXT NOT NULL,
    title TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    due_at TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    waiting_since TEXT,
    valid_until TEXT,
    PRIMARY KEY (tenant, document_id)
);
CREATE TABLE IF NOT EXISTS office_settings (
    tenant TEXT PRIMARY KEY,
    progress_counts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    tenant TEXT NOT NULL,
    dossier_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    salutation TEXT NOT NULL,
    PRIMARY KEY (tenant, dossier_id, client_id)
);
CREATE INDEX IF NOT EXISTS contacts_by_address ON contacts (tenant, address);
CREATE TABLE IF NOT EXISTS tracking (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_version (
    one INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
"""


def among(statuses: Sequence[str]) -> str:
    """SQL: the row's ``status`` is one of ``statuses``."""
    return "status IN (" + ", ".join(f"'{status}'" for status in statuses) + ")"


# The work queue's document statuses, as the dossier check's moves have them (a unit test ties
# them to DOCUMENT_MOVES): what a delivery moves, what is reviewed, what can expire.
DELIVERABLE = ("requested", "uploaded", "rejected", "not_applicable_claimed")
REVIEWABLE = ("uploaded", "not_applicable_claimed")  # a delivery, or a "not applicable" claim
EXPIRABLE = ("uploaded", "approved")

# What each list of the work queue holds, in the words of its partial index: its query says the
# same, so that SQLite and PostgreSQL read the list from that index.
TO_REVIEW = among(REVIEWABLE)
OVERDUE = "status = 'open' AND overdue = 1"
EXPIRING = f"{among(EXPIRABLE)} AND valid_until IS NOT NULL"

# After ADDED_COLUMNS, which one of them uses. An index per list in the order it is read (keyset
# pagination: a page costs the same at any length), holding only that list's rows; a count of a
# list reads only its index.
INDEXES = f"""
CREATE INDEX IF NOT EXISTS action_points_by_document ON action_points (tenant, document_id);
DROP INDEX IF EXISTS work_queue_to_review;
CREATE INDEX IF NOT EXISTS work_queue_review ON documents (tenant, waiting_since, document_id)
    WHERE {TO_REVIEW};
CREATE INDEX IF NOT EXISTS work_queue_overdue
    ON action_points (tenant, overdue_since, action_point_id) WHERE {OVERDUE};
CREATE INDEX IF NOT EXISTS work_queue_expiring ON documents (tenant, valid_until, document_id)
    WHERE {EXPIRING};
"""

VERSION = 3
"""What the projections of this code build: 1, the client portal; 2, and the adviser's work queue
(the ``documents`` table, ``overdue_since``); 3, and the dossiers' contacts (``contacts``, from
``platform.clients.v1``: who may ask for a sign-in mail, and a client's dossiers). A model keeps
the version it was built with from its first record (``model_version``); one that is older lacks
rows the topics' history would give its new tables, and is rebuilt (``replay.rebuild``), not
migrated."""

# Columns added after the first release, with their definitions: a read model written before
# gets them when it is opened (their facts did not exist then: nothing is lost).
ADDED_COLUMNS = (
    ("due_at", "TEXT"),
    ("overdue", "INTEGER NOT NULL DEFAULT 0"),
    ("reason", "TEXT"),
    ("document_status", "TEXT"),
    ("replaces_document_id", "TEXT"),
    ("overdue_since", "TEXT"),
    # SPEC section 9: what the document covers in time, and the adviser's note to the client.
    ("period", "TEXT"),
    ("instructions", "TEXT"),
)

# The same for the work queue's ``documents``: the period names which of a type's documents it is.
ADDED_DOCUMENT_COLUMNS = (("period", "TEXT"),)


def added_columns() -> Iterator[tuple[str, str, str]]:
    """Each column added since the first release: its table, name and definition."""
    for column, definition in ADDED_COLUMNS:
        yield "action_points", column, definition
    for column, definition in ADDED_DOCUMENT_COLUMNS:
        yield "documents", column, definition


REBUILD_CACHE_KIB = 64 * 1024
"""SQLite's page cache while a replay fills a new file (the default is 2 MiB): the rows of a
large topic's random keys then stay in memory instead of going back and forth to the file."""

DEFAULT_NAME = "portal.sqlite"
DEFAULT_SCHEMA = "actiepunten_portal"
POINTER = "portal.current"


Statement = tuple[str, tuple[Any, ...]]
"""One SQL statement (``?`` placeholders) and its parameters."""

Projection = Callable[["CloudEvent"], Statement | list[Statement]]
"""An event -> the one statement that projects it into one table (a list, in order, only where
one event clears several tables: an erased dossier). Consecutive events of a batch that make
the same statement run as one ``executemany`` (a replay inserts thousands)."""


class Executor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...


class ReadModelStore(Protocol):
    name: str
    version: int

    def transaction(self) -> Any: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...

    def rebuilt(self) -> None: ...

    def indexed(self, db: Executor, names: Iterable[str]) -> None: ...


def built_with(db: Executor) -> int:
    """The version of the projections that built this model from its first record (stamped on
    it when it is new); a model from before versions were kept is 1 once it holds anything."""
    row = db.execute("SELECT version FROM model_version").fetchone()
    if row is None:
        tracked = db.execute("SELECT COUNT(*) FROM tracking").fetchone()[0]
        db.execute(
            "INSERT INTO model_version (one, version) VALUES (1, ?) ON CONFLICT (one) DO NOTHING",
            (1 if tracked else VERSION,),
        )
        row = db.execute("SELECT version FROM model_version").fetchone()
    return int(row[0])


class SQLiteStore:
    """A read model in one SQLite file. ``rebuilding``: a new file that a replay fills before
    it is served; until ``rebuilt()`` nothing is synced to disk (a crash leaves a file that is
    never activated, and the replay starts again in a new one)."""

    def __init__(self, path: Path, *, rebuilding: bool = False) -> None:
        private_dir(path.parent)
        self.name = path.name
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        # A rebuild's secondary indexes (name -> its CREATE): made once the rows are in (one
        # sort instead of a B-tree insert per row), or when a batch first needs one (indexed).
        self._deferred: dict[str, str] = {}
        if rebuilding:
            self._db.execute("PRAGMA journal_mode=MEMORY")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(f"PRAGMA cache_size=-{REBUILD_CACHE_KIB}")
        else:
            self._journaled()
        self._prepare()
        if rebuilding:
            self._deferred = {
                row["name"]: row["sql"]
                for row in self._db.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                )
            }
            for name in self._deferred:
                self._db.execute(f"DROP INDEX {name}")

    def _prepare(self) -> None:
        """The read model's tables, the columns added since, its indexes and its version."""
        self._db.executescript(SCHEMA)
        for table, column, definition in added_columns():
            present = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        self._db.executescript(INDEXES)
        with self.transaction() as db:
            self.version = built_with(db)

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        with self._lock:
            # IMMEDIATE takes the write lock now: replicas sharing the file serialise here.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, params).fetchall()]

    def indexed(self, db: Executor, names: Iterable[str]) -> None:
        """Inside a transaction: the indexes ``names`` are there before its statements run (a
        rebuild made them only now, once it first needs them)."""
        for name in names:
            create = self._deferred.pop(name, None)
            if create is not None:
                db.execute(create)

    def _journaled(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def rebuilt(self) -> None:
        """The indexes it does not have yet, then journal the rebuilt file as a served one is,
        and put all of it on disk."""
        with self._lock:
            for create in self._deferred.values():
                self._db.execute(create)
            self._deferred.clear()
            self._journaled()
            for path in (self.path, self.path.parent):
                descriptor = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _PostgresCursor:
    max_parameters = 50
    """psycopg parses a statement of more parameters anew each time (in Python, without the
    C extension): a statement of many rows stays within this (``views._execute_all``)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), params)


class PostgresStore:
    """One schema of the shared database; reconnects after the server went away."""

    def __init__(self, settings: Settings, schema: str, *, rebuilding: bool = False) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError(f"bad schema name {schema!r}")
        self.name = schema
        self._settings = settings
        self._lock = threading.Lock()
        self._conn: Any = None
        # As SQLiteStore's: a rebuild's secondary indexes, made after the rows or when needed.
        self._deferred: dict[str, str] = {}
        with self.transaction() as cursor:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            self._prepare(cursor)
            if rebuilding:
                found = cursor.execute(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                    "JOIN pg_class c ON c.relname = i.indexname "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname "
                    "LEFT JOIN pg_constraint k ON k.conindid = c.oid "
                    "WHERE i.schemaname = ? AND k.oid IS NULL",
                    (schema,),
                ).fetchall()
                self._deferred = {name: create for name, create in found}
                for name in self._deferred:
                    cursor.execute(f"DROP INDEX {name}")

    def _prepare(self, cursor: Executor) -> None:
        """The read model's tables, the columns added since, its indexes and its version."""
        for statement in SCHEMA.split(";"):
            if statement.strip():
                cursor.execute(statement)
        for table, column, definition in added_columns():
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {definition}")
        for statement in INDEXES.split(";"):
            if statement.strip():
                cursor.execute(statement)
        self.version = built_with(cursor)

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                **self._settings.postgres_params(),
                options=f"-c search_path={self.name}",
            )
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cursor:
                # One writer per read model at a time, across replicas.
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.name,))
                yield _PostgresCursor(cursor)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(sql.replace("?", "%s"), params)
                return list(cursor.fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def rebuilt(self) -> None:
        """The indexes it does not have yet (every transaction of a schema was durable when it
        committed)."""
        with self.transaction() as cursor:
            self.indexed(cursor, list(self._deferred))

    def indexed(self, db: Executor, names: Iterable[str]) -> None:
        """Inside a transaction: the indexes ``names`` are there before its statements run."""
        for name in names:
            create = self._deferred.pop(name, None)
            if create is not None:
                db.execute(create)


# --- which read model is served ----------------------------------------------------------------


def _pointer_table(cursor: Any) -> None:
    cursor.execute("CREATE SCHEMA IF NOT EXISTS actiepunten_portal_meta")
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS actiepunten_portal_meta.current "
        "(one BOOLEAN PRIMARY KEY DEFAULT TRUE, name TEXT NOT NULL)"
    )


def current_name(settings: Settings) -> str:
    if settings.persistence == "postgres":
        import psycopg

        with psycopg.connect(**settings.postgres_params()) as conn:
            _pointer_table(conn)
            row = conn.execute("SELECT name FROM actiepunten_portal_meta.current").fetchone()
        return str(row[0]) if row else DEFAULT_SCHEMA
    pointer = settings.data_dir / POINTER
    return pointer.read_text().strip() if pointer.exists() else DEFAULT_NAME


def open_store(
    settings: Settings, name: str | None = None, *, rebuilding: bool = False
) -> ReadModelStore:
    """The read model called ``name``, or the one being served; ``rebuilding`` one that a replay
    fills before it is served (``rebuilt()`` then makes it durable)."""
    name = name or current_name(settings)
    if settings.persistence == "postgres":
        return PostgresStore(settings, name, rebuilding=rebuilding)
    return SQLiteStore(settings.data_dir / name, rebuilding=rebuilding)


def new_name(settings: Settings) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S%f")
    if settings.persistence == "postgres":
        return f"{DEFAULT_SCHEMA}_{stamp}"
    return f"portal-{stamp}.sqlite"


def activate(settings: Settings, name: str) -> None:
    """Serve ``name`` from now on; the pointer changes atomically."""
    if settings.persistence == "postgres":
        import psycopg

        with psycopg.connect(**settings.postgres_params()) as conn:
            _pointer_table(conn)
            conn.execute(
                "INSERT INTO actiepunten_portal_meta.current (one, name) VALUES (TRUE, %s) "
                "ON CONFLICT (one) DO UPDATE SET name = excluded.name",
                (name,),
            )
        return
    tmp = settings.data_dir / (POINTER + ".tmp")
    tmp.write_text(name)
    tmp.replace(settings.data_dir / POINTER)
