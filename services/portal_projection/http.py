"""The portal's read API: the client portal (SPEC section 4) and the adviser's work queue
(section 7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from servicekit.pages import Page, not_a_cursor, paging
from services.portal_projection import work_queue as queue
from services.portal_projection.views import PortalView, WorkQueueNotBuilt
from services.portal_projection.work_queue import Kind
from shared.events.contracts import Subject
from shared.events.durations import Duration, IsoDuration

router = APIRouter(responses=AUTHENTICATED)
Reader = Annotated[Identity, Depends(require("client", "adviser"))]
# A dossier id as the events carry it: 1-200 characters, no control characters (PostgreSQL
# refuses NUL in text, so a NUL would otherwise fail the query instead of finding nothing).
DossierId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


DocumentStatusName = Literal[
    "requested",
    "uploaded",
    "approved",
    "rejected",
    "expired",
    "not_applicable_claimed",
    "waived",
]
"""A document's status, as the dossier check names it (a unit test ties the two)."""


class PortalActionPoint(BaseModel):
    action_point_id: UUID
    document_id: UUID
    document_type: str
    title: str
    period: str | None = None
    """What the document covers in time ("2024"; SPEC section 9); the person is the subject's."""
    instructions: str | None = None
    """The adviser's note to the client with this action point."""
    subject: Subject
    status: Literal["open", "completed"]
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None = None
    overdue: bool = False
    reason: str | None = None
    """Why the adviser rejected the delivered document (the action point is open again)."""
    document_status: DocumentStatusName
    replaces_document_id: UUID | None = None
    """Set when the document was requested again because the delivered one expired."""


class Progress(BaseModel):
    open: int
    completed: int
    percent: int


class PortalActionPoints(BaseModel):
    action_points: list[PortalActionPoint]
    progress: Progress
    next_cursor: str | None = None


Paging = Annotated[Page, Depends(paging("portal-action-points", 2))]


@router.get(
    "/portal/dossiers/{dossier_id}/action-points",
    response_model=PortalActionPoints,
    tags=["client portal"],
    responses=errors(404),
)
async def portal_action_points(
    dossier_id: DossierId, who: Reader, request: Request, page: Paging
) -> PortalActionPoints:
    """The client's action points: open and completed, removed ones absent, oldest first, a
    page at a time; the progress counts every action point of the dossier."""
    if not who.may_see_dossier(dossier_id):
        raise HTTPException(404, f"dossier {dossier_id} not found")
    view: PortalView = request.app.state.view
    after = (page.after[0], page.after[1]) if page.after else None
    rows = await asyncio.to_thread(
        view.action_points, who.tenant, dossier_id, page.limit + 1, after
    )
    more, rows = len(rows) > page.limit, rows[: page.limit]
    points = [PortalActionPoint.model_validate(row) for row in rows]
    counts = await asyncio.to_thread(view.dossier_progress, who.tenant, dossier_id)
    return PortalActionPoints(
        action_points=points,
        progress=Progress(**counts),
        next_cursor=(
            page.cursor_after((rows[-1]["created_at"], rows[-1]["action_point_id"]))
            if more
            else None
        ),
    )


# --- the adviser's work queue (SPEC section 7) ---------------------------------------------------

Adviser = Annotated[Identity, Depends(require("adviser"))]
Within = Annotated[
    IsoDuration,
    Query(description="`expiring`: validity windows that end within this ISO 8601 duration"),
]
QueuePaging = Annotated[Page, Depends(paging("work-queue", 3))]


class WorkItem(BaseModel):
    """One thing waiting for the office: a document to review, an overdue action point, or a
    delivery whose validity window ends soon."""

    dossier_id: str
    document_id: UUID
    document_type: str
    title: str
    subject: Subject
    period: str | None = None
    """The period the request named (SPEC section 9): which of a type's documents it is."""
    status: DocumentStatusName
    """The document's status (for an overdue action point: requested, or rejected)."""
    since: datetime
    """Waiting since: the first delivery not yet reviewed, the due date, or the window's end."""
    due_at: datetime | None
    valid_until: datetime | None
    action_point_id: UUID | None


class WorkQueue(BaseModel):
    items: list[WorkItem]
    next_cursor: str | None = None


class WorkQueueSummary(BaseModel):
    to_review: int
    overdue: int
    expiring: int


def _horizon(within: str) -> datetime:
    return Duration.parse(within).after(datetime.now(UTC))


def _not_built() -> HTTPException:
    return HTTPException(
        503,
        "the work queue is being built from the dossier-check topic (the read model was written "
        "before it); try again shortly",
        headers={"Retry-After": "5"},
    )


@router.get("/work-queue", response_model=WorkQueue, tags=["work queue"])
async def work_queue(
    kind: Kind, who: Adviser, request: Request, page: QueuePaging, within: Within = "P14D"
) -> WorkQueue:
    """The office's list ``kind``, oldest ``since`` first, a page at a time: documents to
    review, overdue action points, or deliveries whose validity ends within ``within``."""
    if page.after is not None and page.after[0] != kind:
        raise not_a_cursor()
    after = (page.after[1], page.after[2]) if page.after else None
    view: PortalView = request.app.state.view
    horizon = _horizon(within)
    try:
        rows = await asyncio.to_thread(
            view.read_work_queue,
            lambda query: queue.items(query, who.tenant, kind, page.limit + 1, after, horizon),
        )
    except WorkQueueNotBuilt:
        raise _not_built() from None
    more, rows = len(rows) > page.limit, rows[: page.limit]
    return WorkQueue(
        items=[WorkItem.model_validate(row) for row in rows],
        next_cursor=page.cursor_after((kind, *queue.sort_key(kind, rows[-1]))) if more else None,
    )


@router.get("/work-queue/summary", response_model=WorkQueueSummary, tags=["work queue"])
async def work_queue_summary(
    who: Adviser, request: Request, within: Within = "P14D"
) -> WorkQueueSummary:
    """How many items each of the office's lists holds (``expiring`` within ``within``)."""
    view: PortalView = request.app.state.view
    horizon = _horizon(within)
    try:
        counts = await asyncio.to_thread(
            view.read_work_queue, lambda query: queue.summary(query, who.tenant, horizon)
        )
    except WorkQueueNotBuilt:
        raise _not_built() from None
    return WorkQueueSummary(**counts)
