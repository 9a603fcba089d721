"""The client-portal read model (klantportaal): action points per dossier, open or completed.

Rows and the tracking position of the record that changed them are written in one SQLite
transaction, so a redelivered record changes nothing. The state of a row only moves forward
(open -> completed, open/completed -> removed), which makes republished events harmless too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from eventsourcing.persistence import Tracking

from shared.events import contracts as c

_SCHEMA = """
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
    PRIMARY KEY (tenant, action_point_id)
);
CREATE INDEX IF NOT EXISTS action_points_by_dossier ON action_points (tenant, dossier_id);
CREATE TABLE IF NOT EXISTS tracking (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""


POINTER = "portal.current"


def current_path(data_dir: Path) -> Path:
    """The read model the portal serves: named by the pointer file after a replay."""
    pointer = data_dir / POINTER
    if pointer.exists():
        return data_dir / pointer.read_text().strip()
    return data_dir / "portal.sqlite"


def activate(data_dir: Path, target: Path) -> None:
    """Point the portal at ``target`` (atomically: a reader sees the old name or the new)."""
    tmp = data_dir / (POINTER + ".tmp")
    tmp.write_text(target.name)
    tmp.replace(data_dir / POINTER)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    return db


class PortalView:
    """SQLite-backed read model; also the consumer's position store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = _connect(path)

    def reopen(self, path: Path) -> None:
        """Serve another read model from now on (a replay finished)."""
        db = _connect(path)
        with self._lock:
            old, self._db, self.path = self._db, db, path
        old.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- position store ------------------------------------------------------------------------

    def max_tracking_id(self, name: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT position FROM tracking WHERE name = ?", (name,)
            ).fetchone()
        return int(row[0]) if row else None

    def has_tracked(self, tracking: Tracking) -> bool:
        position = self.max_tracking_id(tracking.application_name)
        return position is not None and position >= tracking.notification_id

    def record_tracking(self, tracking: Tracking) -> None:
        self.process(None, tracking)

    # --- projection ----------------------------------------------------------------------------

    def process(self, event: c.CloudEvent | None, tracking: Tracking) -> bool:
        """Apply ``event`` and record ``tracking`` atomically; False if it was processed before."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT position FROM tracking WHERE name = ?", (tracking.application_name,)
                ).fetchone()
                if row is not None and row[0] >= tracking.notification_id:
                    db.execute("ROLLBACK")
                    return False
                if event is not None:
                    self._apply(db, event)
                db.execute(
                    "INSERT INTO tracking (name, position) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    (tracking.application_name, tracking.notification_id),
                )
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _apply(db: sqlite3.Connection, event: c.CloudEvent) -> None:
        data: Any = event.data
        if isinstance(event, c.ActionPointOpened):
            db.execute(
                "INSERT INTO action_points (tenant, action_point_id, dossier_id, document_id, "
                "document_type, title, subject, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) "
                "ON CONFLICT (tenant, action_point_id) DO NOTHING",
                (
                    event.tenantid,
                    str(data.action_point_id),
                    data.dossier_id,
                    str(data.document_id),
                    data.document_type,
                    data.title,
                    data.subject.model_dump_json(),
                    data.opened_at.isoformat(),
                ),
            )
        elif isinstance(event, c.ActionPointCompleted):
            db.execute(
                "UPDATE action_points SET status = 'completed', completed_at = ? "
                "WHERE tenant = ? AND action_point_id = ? AND status = 'open'",
                (data.completed_at.isoformat(), event.tenantid, str(data.action_point_id)),
            )
        elif isinstance(event, c.ActionPointRemoved):
            db.execute(
                "UPDATE action_points SET status = 'removed', removed_at = ? "
                "WHERE tenant = ? AND action_point_id = ? AND status != 'removed'",
                (data.removed_at.isoformat(), event.tenantid, str(data.action_point_id)),
            )

    # --- queries -------------------------------------------------------------------------------

    def action_points(self, tenant: str, dossier_id: str) -> list[dict[str, Any]]:
        """The dossier's action points as the client sees them; removed ones are absent."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM action_points WHERE tenant = ? AND dossier_id = ? "
                "AND status != 'removed' ORDER BY created_at, action_point_id",
                (tenant, dossier_id),
            ).fetchall()
        return [
            {
                "action_point_id": row["action_point_id"],
                "document_id": row["document_id"],
                "document_type": row["document_type"],
                "title": row["title"],
                "subject": json.loads(row["subject"]),
                "status": row["status"],
                "created_at": row["created_at"],
                "completed_at": row["completed_at"],
            }
            for row in rows
        ]
