"""The client-portal read model (klantportaal): action points per dossier, open or completed.

Rows and the tracking position of the record that changed them are written in one
transaction, so a redelivered record changes nothing. The state of a row only moves forward
(open -> completed, open/completed -> removed; completed -> open only when the adviser rejects
the document), and one dossier's events arrive in order, so republished events change nothing.
The same view holds the adviser's work queue (``work_queue.py``: its documents and its lists).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.persistence import Tracking

from services.portal_projection import work_queue
from services.portal_projection.stores import (
    Executor,
    Projection,
    ReadModelStore,
    SQLiteStore,
    Statement,
)
from services.portal_projection.work_queue import DOCUMENTS, instant
from shared.events import contracts as c

T = TypeVar("T")


class PortalView:
    """The read model and the consumer's position store, over a SQLite or PostgreSQL store."""

    def __init__(self, store: ReadModelStore | Path) -> None:
        self.store = SQLiteStore(store) if isinstance(store, Path) else store
        self._swap = threading.Lock()
        # How many calls use each store; a replaced store closes when its last user is done.
        self._users: dict[int, int] = {}
        self._retired: dict[int, ReadModelStore] = {}

    @property
    def name(self) -> str:
        return self.store.name

    def reopen(self, store: ReadModelStore) -> None:
        """Serve another read model from now on (a replay finished).

        The old one is closed once no request or handler uses it any more.
        """
        with self._swap:
            old, self.store = self.store, store
            if self._users.get(id(old)):
                self._retired[id(old)] = old
                return
        old.close()

    @contextmanager
    def _using(self) -> Iterator[ReadModelStore]:
        with self._swap:
            store = self.store
            self._users[id(store)] = self._users.get(id(store), 0) + 1
        try:
            yield store
        finally:
            with self._swap:
                left = self._users[id(store)] - 1
                if left:
                    self._users[id(store)] = left
                else:
                    del self._users[id(store)]
                retired = self._retired.pop(id(store), None) if not left else None
            if retired is not None:
                retired.close()

    def close(self) -> None:
        self.store.close()

    # --- position store ------------------------------------------------------------------------

    def max_tracking_id(self, name: str) -> int | None:
        with self._using() as store:
            rows = store.query("SELECT position FROM tracking WHERE name = ?", (name,))
        return int(rows[0]["position"]) if rows else None

    def has_tracked(self, tracking: Tracking) -> bool:
        position = self.max_tracking_id(tracking.application_name)
        return position is not None and position >= tracking.notification_id

    def record_tracking(self, tracking: Tracking) -> None:
        self.process(None, tracking)

    # --- projection ----------------------------------------------------------------------------

    def process(self, event: c.CloudEvent | None, tracking: Tracking) -> bool:
        """Apply ``event`` and record ``tracking`` atomically; False if it was processed before."""
        return self.process_many([] if event is None else [event], tracking)

    def process_many(self, events: Sequence[c.CloudEvent | None], tracking: Tracking) -> bool:
        """Apply ``events`` (consecutive records of one partition; None for one that changes
        nothing) and record ``tracking``, the position after the last, in one transaction.

        False, changing nothing, if that position was recorded before: a batch is applied whole
        or not at all, so a recorded position covers every record before it.
        """
        with self._using() as store, store.transaction() as db:
            row = db.execute(
                "SELECT position FROM tracking WHERE name = ?", (tracking.application_name,)
            ).fetchone()
            if row is not None and row[0] >= tracking.notification_id:
                return False
            needed = {READS_INDEX[e.type] for e in events if e and e.type in READS_INDEX}
            if needed:
                store.indexed(db, needed)
            # The client portal's tables, then the work queue's: no statement reads another
            # projection's table, so the two commute; within each the events keep their order.
            for projections in (PROJECTIONS, DOCUMENTS):
                statements = [
                    statement
                    for event in events
                    if event is not None and event.type in projections
                    for statement in _listed(projections[event.type](event))
                ]
                for sql, same in itertools.groupby(statements, key=lambda statement: statement[0]):
                    _execute_all(db, sql, [params for _, params in same])
            db.execute(
                "INSERT INTO tracking (name, position) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (tracking.application_name, tracking.notification_id),
            )
        return True

    # --- queries -------------------------------------------------------------------------------

    def action_points(
        self,
        tenant: str,
        dossier_id: str,
        limit: int | None = None,
        after: tuple[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The dossier's action points as the client sees them; removed ones are absent.

        In the order of (``created_at``, ``action_point_id``): at most ``limit`` of them, those
        after the key ``after`` (keyset pagination).
        """
        sql = (
            "SELECT * FROM action_points WHERE tenant = ? AND dossier_id = ? "
            "AND status != 'removed'"
        )
        params: list[Any] = [tenant, dossier_id]
        if after is not None:
            sql += " AND (created_at > ? OR (created_at = ? AND action_point_id > ?))"
            params += [after[0], after[0], after[1]]
        sql += " ORDER BY created_at, action_point_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._using() as store:
            rows = store.query(sql, params)
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
                "due_at": row["due_at"],
                "overdue": bool(row["overdue"]),
                "reason": row["reason"],
                "document_status": row["document_status"] or _legacy_status(row["status"]),
                "replaces_document_id": row["replaces_document_id"],
                "period": row["period"],
                "instructions": row["instructions"],
            }
            for row in rows
        ]

    def progress_counts(self, tenant: str) -> str:
        """What the office counts as done in the client's progress: ``received`` (the default:
        a delivered document) or ``approved``."""
        with self._using() as store:
            rows = store.query(
                "SELECT progress_counts FROM office_settings WHERE tenant = ?", (tenant,)
            )
        return str(rows[0]["progress_counts"]) if rows else "received"

    def dossiers(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        """The office's dossiers known to the read model, most recent first, with progress."""
        done = _DONE[self.progress_counts(tenant)]
        with self._using() as store:
            rows = store.query(
                "SELECT dossier_id, COUNT(*) AS total, "
                f"SUM(CASE WHEN {done} THEN 1 ELSE 0 END) AS completed, "
                "MAX(created_at) AS last_at FROM action_points "
                "WHERE tenant = ? AND status != 'removed' "
                "GROUP BY dossier_id ORDER BY MAX(created_at) DESC, dossier_id LIMIT ?",
                (tenant, limit),
            )
        return [
            {
                "dossier_id": row["dossier_id"],
                **progress_of(int(row["total"]), int(row["completed"])),
            }
            for row in rows
        ]

    def dossier_progress(self, tenant: str, dossier_id: str) -> dict[str, int]:
        """The progress of all the dossier's action points (removed ones absent)."""
        done = _DONE[self.progress_counts(tenant)]
        with self._using() as store:
            rows = store.query(
                "SELECT COUNT(*) AS total, "
                f"SUM(CASE WHEN {done} THEN 1 ELSE 0 END) AS completed "
                "FROM action_points WHERE tenant = ? AND dossier_id = ? AND status != 'removed'",
                (tenant, dossier_id),
            )
        return progress_of(int(rows[0]["total"]), int(rows[0]["completed"] or 0))

    def contacts_at(self, tenant: str, email: str) -> list[dict[str, Any]]:
        """The office's dossier contacts with this e-mail address (any case): who may ask for a
        sign-in mail, and the dossiers a client signed in with that address sees."""
        with self._using() as store:
            return store.query(
                "SELECT dossier_id, client_id, email, name, salutation FROM contacts "
                "WHERE tenant = ? AND address = ? ORDER BY dossier_id, client_id",
                (tenant, address_of(email)),
            )

    # --- the adviser's work queue (work_queue.py) ------------------------------------------------

    def read_work_queue(self, read: Callable[[work_queue.Query], T]) -> T:
        """``read`` (``work_queue.items`` or ``work_queue.summary`` given all but the query)
        over the served model; ``WorkQueueNotBuilt`` while that predates the work queue."""
        with self._using() as store:
            if store.version < work_queue.SINCE_VERSION:
                raise WorkQueueNotBuilt(f"read model {store.name} predates the work queue")
            return read(store.query)


class WorkQueueNotBuilt(Exception):
    """The served read model was built before the work queue: its lists would miss everything
    that happened before it was upgraded. A rebuild from the topic is under way (``replay``)."""


# --- what each event does to the read model ------------------------------------------------------
# One function per event type the portal shows. Every statement is keyed on the office and the
# action point (or document) of the event, so no record reaches another office's rows.


def _opened(event: c.CloudEvent) -> Statement:
    tenant, data = event.tenantid, event.data
    return (
        "INSERT INTO action_points (tenant, action_point_id, dossier_id, document_id, "
        "document_type, title, subject, status, created_at, due_at, document_status, "
        "replaces_document_id, period, instructions) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, 'requested', ?, ?, ?) "
        "ON CONFLICT (tenant, action_point_id) DO NOTHING",
        (
            tenant,
            str(data.action_point_id),
            data.dossier_id,
            str(data.document_id),
            data.document_type,
            data.title,
            data.subject.model_dump_json(),
            data.opened_at.isoformat(),
            _moment(data.due_at),
            _text(data.replaces_document_id),
            data.period,
            data.instructions,
        ),
    )


def _completed(event: c.CloudEvent) -> Statement:
    tenant, data = event.tenantid, event.data
    return (
        "UPDATE action_points SET status = 'completed', completed_at = ?, overdue = 0, "
        "reason = NULL WHERE tenant = ? AND action_point_id = ? AND status = 'open'",
        (data.completed_at.isoformat(), tenant, str(data.action_point_id)),
    )


def _removed(event: c.CloudEvent) -> Statement:
    tenant, data = event.tenantid, event.data
    return (
        "UPDATE action_points SET status = 'removed', removed_at = ? "
        "WHERE tenant = ? AND action_point_id = ? AND status != 'removed'",
        (data.removed_at.isoformat(), tenant, str(data.action_point_id)),
    )


def _reopened(event: c.CloudEvent) -> Statement:
    tenant, data = event.tenantid, event.data
    # Open again with the adviser's reason; the due date moves if the dossier check gave one.
    return (
        "UPDATE action_points SET status = 'open', completed_at = NULL, overdue = 0, "
        "reason = ?, due_at = COALESCE(?, due_at) "
        "WHERE tenant = ? AND action_point_id = ? AND status = 'completed'",
        (data.reason, _moment(data.due_at), tenant, str(data.action_point_id)),
    )


def _restored(event: c.CloudEvent) -> Statement:
    # The dossier was reopened: the points its closing removed are open again, as they were.
    # One statement for any number of them, read alike by both stores: the ids (UUIDs) in one
    # text, and the pattern's wildcards as parameters (psycopg reads a literal % as its own).
    tenant, data = event.tenantid, event.data
    ids = " ".join(str(point_id) for point_id in data.restored_action_point_ids)
    return (
        "UPDATE action_points SET status = 'open', removed_at = NULL "
        "WHERE tenant = ? AND dossier_id = ? AND status = 'removed' "
        "AND ? LIKE ? || action_point_id || ?",
        (tenant, data.dossier_id, ids, "%", "%"),
    )


def _erased(event: c.CloudEvent) -> list[Statement]:
    # The dossier was erased (SPEC section 11): the client portal and the contacts forget it
    # (and so do the client's sessions, which read the contacts on every request).
    key = (event.tenantid, event.data.dossier_id)
    return [
        ("DELETE FROM action_points WHERE tenant = ? AND dossier_id = ?", key),
        ("DELETE FROM contacts WHERE tenant = ? AND dossier_id = ?", key),
    ]


def _overdue(event: c.CloudEvent) -> Statement:
    # Overdue since its due date (sortable text, for the work queue), which it gets here if its
    # opening did not carry one.
    tenant, data = event.tenantid, event.data
    return (
        "UPDATE action_points SET overdue = 1, overdue_since = ?, due_at = COALESCE(due_at, ?) "
        "WHERE tenant = ? AND action_point_id = ? AND status = 'open'",
        (instant(data.due_at), _moment(data.due_at), tenant, str(data.action_point_id)),
    )


def _document_status(status: str) -> Projection:
    def project(event: c.CloudEvent) -> Statement:
        return (
            "UPDATE action_points SET document_status = ? WHERE tenant = ? AND document_id = ?",
            (status, event.tenantid, str(event.data.document_id)),
        )

    return project


def _settings(event: c.CloudEvent) -> Statement:
    tenant, data = event.tenantid, event.data
    return (
        "INSERT INTO office_settings (tenant, progress_counts) VALUES (?, ?) "
        "ON CONFLICT (tenant) DO UPDATE SET progress_counts = excluded.progress_counts",
        (tenant, data.progress_counts),
    )


def _contact(event: c.CloudEvent) -> Statement:
    data = event.data
    return (
        "INSERT INTO contacts (tenant, dossier_id, client_id, email, address, name, salutation) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, dossier_id, client_id) DO UPDATE SET "
        "email = excluded.email, address = excluded.address, name = excluded.name, "
        "salutation = excluded.salutation",
        (
            event.tenantid,
            data.dossier_id,
            data.client_id,
            data.email,
            address_of(data.email),
            data.name,
            data.salutation,
        ),
    )


def address_of(email: str) -> str:
    """An e-mail address as it is compared: without blanks around it, in lower case."""
    return email.strip().lower()


PROJECTIONS: dict[str, Projection] = {
    "ActionPointOpened": _opened,
    "ActionPointCompleted": _completed,
    "ActionPointRemoved": _removed,
    "ActionPointReopened": _reopened,
    "ActionPointOverdue": _overdue,
    "DossierReopened": _restored,
    "DossierErased": _erased,
    "DocumentUploaded": _document_status("uploaded"),
    "DocumentApproved": _document_status("approved"),
    "DocumentRejected": _document_status("rejected"),
    "DocumentExpired": _document_status("expired"),
    "NotApplicableClaimed": _document_status("not_applicable_claimed"),
    "DocumentWaived": _document_status("waived"),
    "NotApplicableRefused": _document_status("rejected"),
    "PortalSettingsChanged": _settings,
    "ClientContactChanged": _contact,
}
"""The client portal's projection (``action_points``, ``office_settings``, ``contacts``), by event
type."""

READS_INDEX: dict[str, str] = {
    "DossierReopened": "action_points_by_dossier",
    "DossierErased": "action_points_by_dossier",
    **dict.fromkeys(
        (
            "DocumentUploaded",
            "DocumentApproved",
            "DocumentRejected",
            "DocumentExpired",
            "NotApplicableClaimed",
            "DocumentWaived",
            "NotApplicableRefused",
        ),
        "action_points_by_document",
    ),
}
"""The projections whose statements find their rows by a secondary index (the others go by a
primary key, or only insert). A replay makes the indexes after its rows are in, and one of these
as soon as a batch needs it (``SQLiteStore.indexed``); a unit test reads each statement's query
plan (``test_portal_replay_indexes.py``)."""

PROJECTED = frozenset(PROJECTIONS) | frozenset(DOCUMENTS)
"""The events the portal projects: into the client portal, the work queue's documents, or both;
the dossier-check topic's other events change nothing here (``IGNORED``; a unit test fails on an
event type in neither)."""

IGNORED = frozenset({"DocumentTypeConfigured", "ActionPointReminderDue", "DossierClosed"})
# DossierClosed: its open points leave the portal by their own ActionPointRemoved.


_INSERT = re.compile(
    r"(INSERT INTO [^;]+? VALUES )(\([^()]*\))( ON CONFLICT \([^()]*\) DO NOTHING)?"
)
MAX_PARAMETERS = 999
"""At most this many parameters in one statement (SQLite's limit before 3.32; an executor may
say fewer: ``max_parameters``)."""


def _execute_all(db: Executor, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``sql`` once per row of ``rows``, in order. Consecutive inserts that change nothing on a
    conflict go as statements of many rows each (``INSERT ... VALUES (...), (...)``: rows later
    in one meet the ones before, as one statement each would): SQLite then steps once per
    statement instead of once per row (each step gives up the GIL and waits to get it back)."""
    insert = _INSERT.fullmatch(sql) if len(rows) > 1 else None
    if insert is None:
        db.executemany(sql, rows)
        return
    head, row, tail = insert.group(1), insert.group(2), insert.group(3) or ""
    limit = getattr(db, "max_parameters", MAX_PARAMETERS)
    per_statement = max(1, limit // max(1, len(rows[0])))
    whole = len(rows) - len(rows) % per_statement
    if whole:
        db.executemany(
            head + ", ".join([row] * per_statement) + tail,
            [
                [value for one in rows[start : start + per_statement] for value in one]
                for start in range(0, whole, per_statement)
            ],
        )
    if whole < len(rows):
        rest = rows[whole:]
        db.execute(head + ", ".join([row] * len(rest)) + tail, [v for one in rest for v in one])


def _listed(made: Statement | list[Statement]) -> list[Statement]:
    return made if isinstance(made, list) else [made]


def _moment(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _legacy_status(status: str) -> str:
    """The document status of a row projected before the portal kept it."""
    return "uploaded" if status == "completed" else "requested"


def progress_of(total: int, completed: int) -> dict[str, int]:
    """The progress shown to the client: open, completed and the percentage completed."""
    return {
        "open": total - completed,
        "completed": completed,
        "percent": round(100 * completed / total) if total else 0,
    }


DONE_WHEN: dict[str, dict[str, tuple[str, ...]]] = {
    "received": {"status": ("completed",)},
    # A waived document (not applicable, SPEC section 9) is as done as an approved one.
    "approved": {"status": ("completed",), "document_status": ("approved", "waived")},
}
"""When an action point counts as done in the client's progress, per office choice
(``progress_counts``): the values its row may have. Written once, read as SQL (``_DONE``) and
in Python (``is_done``); a unit test ties the words to the contracts' and the dossier check's."""

_DONE = {
    counts: " AND ".join(
        f"{column} IN ({', '.join(repr(value) for value in values)})"
        for column, values in row.items()
    )
    for counts, row in DONE_WHEN.items()
}


def is_done(point: dict[str, Any], counts: str = "received") -> bool:
    """The rule of ``DONE_WHEN`` over a row of ``PortalView.action_points``."""
    return all(point[column] in values for column, values in DONE_WHEN[counts].items())


def progress(points: list[dict[str, Any]], counts: str = "received") -> dict[str, int]:
    """Progress over a dossier's action points (rows of ``PortalView.action_points``)."""
    return progress_of(len(points), sum(1 for p in points if is_done(p, counts)))
