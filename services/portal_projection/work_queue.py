"""The adviser's work queue (SPEC section 7): what waits for the office, in three lists.

- ``to_review``: documents delivered (``uploaded``) and not yet reviewed, and documents the
  client claimed "not applicable" (SPEC section 9) until the adviser decides. ``since``: the
  first delivery (or the claim) still waiting for review (a second upload before the review
  does not reset it: the document has waited since the first).
- ``overdue``: open action points past their due date (``ActionPointOverdue``). ``since``: that
  due date. A point leaves when it is completed or removed (with its document or alone) and comes
  back with the next ``ActionPointOverdue`` when it is reopened past its due date.
- ``expiring``: delivered or approved documents whose validity window ends (``valid_until``)
  within a horizon. ``since``: that end, so every list is oldest ``since`` first. An expired or
  removed document leaves; a rejected delivery's window no longer counts.

Each list is office-wide, oldest first, read a page at a time from an index of its own (keyset
pagination on ``(tenant, since, id)``). ``status`` is always the document's status.

The ``documents`` table is this module's projection of the document facts; the overdue list reads
the portal's ``action_points``. Each statement moves a document only forward: a delivery only to
a higher version, a review only of the version it names, nothing out of ``expired`` or
``removed``, so republished events change nothing. Moments the lists sort by are kept as UTC text
of one width, so that text order is time order in any collation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from services.portal_projection.stores import (
    DELIVERABLE,
    EXPIRABLE,
    EXPIRING,
    OVERDUE,
    TO_REVIEW,
    Projection,
    Statement,
    among,
)
from shared.events import contracts as c

log = logging.getLogger(__name__)

SINCE_VERSION = 2
"""The read-model version (``stores.VERSION``) that first built the work queue."""

Kind = Literal["to_review", "overdue", "expiring"]
KINDS: tuple[Kind, ...] = ("to_review", "overdue", "expiring")

# A record without a CloudEvents ``time`` (ours always have one) waits since the epoch.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(value: datetime) -> str:
    """A moment as sortable text: UTC, always with microseconds."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _instant_or_none(value: datetime | None) -> str | None:
    return instant(value) if value is not None else None


# --- what each document fact does to the documents table ----------------------------------------


def _added(event: c.CloudEvent) -> Statement:
    data = event.data
    return (
        "INSERT INTO documents (tenant, document_id, dossier_id, document_type, title, subject, "
        "status, due_at, period) VALUES (?, ?, ?, ?, ?, ?, 'requested', ?, ?) "
        "ON CONFLICT (tenant, document_id) DO NOTHING",
        (
            event.tenantid,
            str(data.document_id),
            data.dossier_id,
            data.document_type,
            data.title,
            data.subject.model_dump_json(),
            _instant_or_none(data.due_at),
            data.period,
        ),
    )


def _uploaded(event: c.CloudEvent) -> Statement:
    # A newer version only; waiting since the first delivery not yet reviewed; its window (or
    # none) replaces the one before.
    data = event.data
    return (
        "UPDATE documents SET status = 'uploaded', version = ?, valid_until = ?, "
        "waiting_since = COALESCE(waiting_since, ?) "
        f"WHERE tenant = ? AND document_id = ? AND version < ? AND {among(DELIVERABLE)}",
        (
            data.version,
            _instant_or_none(data.valid_until),
            instant(event.time or _EPOCH),
            event.tenantid,
            str(data.document_id),
            data.version,
        ),
    )


def _reviewed(becomes: str, *, keeps_window: bool) -> Projection:
    """The review of the version it names, if that is still the latest delivery."""
    window = "" if keeps_window else ", valid_until = NULL"

    def project(event: c.CloudEvent) -> Statement:
        return (
            f"UPDATE documents SET status = '{becomes}', waiting_since = NULL{window} "
            f"WHERE tenant = ? AND document_id = ? AND version = ? AND {TO_REVIEW}",
            (event.tenantid, str(event.data.document_id), event.data.version),
        )

    return project


def _claimed(event: c.CloudEvent) -> Statement:
    # "Not applicable" (SPEC section 9): to review since the claim, like a delivery.
    return (
        "UPDATE documents SET status = 'not_applicable_claimed', "
        "waiting_since = COALESCE(waiting_since, ?) "
        "WHERE tenant = ? AND document_id = ? AND status IN ('requested', 'rejected')",
        (instant(event.time or _EPOCH), event.tenantid, str(event.data.document_id)),
    )


def _claim_decided(becomes: str) -> Projection:
    """The adviser's decision on a claim: it leaves the list to review."""

    def project(event: c.CloudEvent) -> Statement:
        return (
            f"UPDATE documents SET status = '{becomes}', waiting_since = NULL "
            "WHERE tenant = ? AND document_id = ? AND status = 'not_applicable_claimed'",
            (event.tenantid, str(event.data.document_id)),
        )

    return project


def _expired(event: c.CloudEvent) -> Statement:
    return (
        "UPDATE documents SET status = 'expired', waiting_since = NULL "
        f"WHERE tenant = ? AND document_id = ? AND {among(EXPIRABLE)}",
        (event.tenantid, str(event.data.document_id)),
    )


def _removed(event: c.CloudEvent) -> Statement:
    return (
        "UPDATE documents SET status = 'removed', waiting_since = NULL "
        "WHERE tenant = ? AND document_id = ?",
        (event.tenantid, str(event.data.document_id)),
    )


def _erased(event: c.CloudEvent) -> Statement:
    # The dossier was erased (SPEC section 11): its documents leave the work queue for good.
    return (
        "DELETE FROM documents WHERE tenant = ? AND dossier_id = ?",
        (event.tenantid, event.data.dossier_id),
    )


DOCUMENTS: dict[str, Projection] = {
    "DocumentAdded": _added,
    "DocumentUploaded": _uploaded,
    "DocumentApproved": _reviewed("approved", keeps_window=True),
    "DocumentRejected": _reviewed("rejected", keeps_window=False),
    "DocumentExpired": _expired,
    "DocumentRemoved": _removed,
    "DossierErased": _erased,
    "NotApplicableClaimed": _claimed,
    "DocumentWaived": _claim_decided("waived"),
    "NotApplicableRefused": _claim_decided("rejected"),
}
"""The work queue's projection of the document facts into ``documents``, by event type."""


# --- the lists ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _List:
    table: str
    holds: str  # the condition of its partial index
    since: str  # the column it is sorted by, then by ``key``
    key: str
    columns: str  # the item's other fields
    up_to_horizon: bool = False  # holds only the rows whose ``since`` is not after a horizon

    def where(self, tenant: str, horizon: datetime) -> tuple[str, list[Any]]:
        """SQL and parameters: the rows of the office's list."""
        if self.up_to_horizon:
            return f"tenant = ? AND {self.holds} AND {self.since} <= ?", [tenant, instant(horizon)]
        return f"tenant = ? AND {self.holds}", [tenant]


# The document's action point, if it has one that was not removed (it has one at most). Looked
# up by document (``action_points_by_document``): an aggregate such as MIN would let SQLite walk
# the office's action points in id order instead.
_ITS_ACTION_POINT = (
    "(SELECT a.action_point_id FROM action_points a WHERE a.tenant = documents.tenant "
    "AND a.document_id = documents.document_id AND a.status != 'removed' LIMIT 1) "
    "AS action_point_id"
)
_DOCUMENT = f"status, due_at, valid_until, {_ITS_ACTION_POINT}"

_LISTS: dict[str, _List] = {
    "to_review": _List("documents", TO_REVIEW, "waiting_since", "document_id", _DOCUMENT),
    "overdue": _List(
        "action_points",
        OVERDUE,
        "overdue_since",
        "action_point_id",
        "COALESCE(document_status, 'requested') AS status, due_at, NULL AS valid_until, "
        "action_point_id",
    ),
    "expiring": _List(
        "documents", EXPIRING, "valid_until", "document_id", _DOCUMENT, up_to_horizon=True
    ),
}

Query = Callable[[str, Sequence[Any]], list[dict[str, Any]]]


def items(
    query: Query,
    tenant: str,
    kind: str,
    limit: int,
    after: tuple[str, str] | None = None,
    horizon: datetime | None = None,
) -> list[dict[str, Any]]:
    """One page of the office's list ``kind``: at most ``limit`` items after the sort key
    ``after`` (``since``, id), oldest first; ``expiring`` up to ``horizon``."""
    chosen = _LISTS[kind]
    where, params = chosen.where(tenant, horizon or datetime.now(UTC))
    sql = (
        f"SELECT tenant, dossier_id, document_id, document_type, title, subject, period, "
        f"{chosen.since} AS since, {chosen.columns} FROM {chosen.table} WHERE {where}"
    )
    if after is not None:
        sql += f" AND ({chosen.since}, {chosen.key}) > (?, ?)"
        params += after
    sql += f" ORDER BY {chosen.since}, {chosen.key} LIMIT ?"
    params.append(limit)
    return [_item(row) for row in _of_office(query(sql, params), tenant)]


def summary(query: Query, tenant: str, horizon: datetime) -> dict[str, int]:
    """How many items each list of the office holds (``expiring`` up to ``horizon``): each a
    count of a range of its index."""
    counts, params = [], []
    for kind, chosen in _LISTS.items():
        where, more = chosen.where(tenant, horizon)
        counts.append(f"(SELECT COUNT(*) FROM {chosen.table} WHERE {where}) AS {kind}")
        params += more
    [row] = query("SELECT " + ", ".join(counts), params)
    return {kind: int(row[kind]) for kind in KINDS}


def sort_key(kind: str, item: dict[str, Any]) -> tuple[str, str]:
    """Where ``item`` stands in its list: the key a cursor names."""
    return item["since"], item[_LISTS[kind].key]


def _of_office(rows: list[dict[str, Any]], tenant: str) -> list[dict[str, Any]]:
    """The rows of ``tenant``: the query asked for no others; a row of another office is a bug,
    never an answer."""
    mine = [row for row in rows if row["tenant"] == tenant]
    if len(mine) != len(rows):
        others = len(rows) - len(mine)
        log.error("work queue of %s: %d rows of other offices left out", tenant, others)
    return mine


def _item(row: dict[str, Any]) -> dict[str, Any]:
    item = {name: value for name, value in row.items() if name != "tenant"}
    item["subject"] = json.loads(row["subject"])
    return item
