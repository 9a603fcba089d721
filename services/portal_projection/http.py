"""The client portal's read API (SPEC section 4)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from servicekit.pages import Page, paging
from services.portal_projection.views import PortalView
from shared.events.contracts import Subject

router = APIRouter(responses=AUTHENTICATED)
Reader = Annotated[Identity, Depends(require("client", "adviser"))]
# A dossier id as the events carry it: 1-200 characters, no control characters (PostgreSQL
# refuses NUL in text, so a NUL would otherwise fail the query instead of finding nothing).
DossierId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class PortalActionPoint(BaseModel):
    action_point_id: UUID
    document_id: UUID
    document_type: str
    title: str
    subject: Subject
    status: Literal["open", "completed"]
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None = None
    overdue: bool = False
    reason: str | None = None
    """Why the adviser rejected the delivered document (the action point is open again)."""
    document_status: Literal["requested", "uploaded", "approved", "rejected", "expired"]
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
