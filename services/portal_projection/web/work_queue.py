"""The adviser's start page (SPEC section 7): the work queue across the office's dossiers (what
waits for review, what is overdue, what expires soon), each item linking to its dossier, with
the field to open a dossier by id and the most recent dossiers below. The lists come from the
portal service's own work-queue API, as the adviser (``backends``); the part polls every 2 s."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request, Response

from services.portal_projection.web.backends import call
from services.portal_projection.web.pages import (
    PageError,
    pages_router,
    portal_view,
    render,
    version,
)
from services.portal_projection.web.session import Session, adviser_only, signed_in

DOSSIER_LIST_LIMIT = 200
QUEUE_LIMIT = 25  # items shown per list; the count says how many there are
KINDS = ("to_review", "overdue", "expiring")

router = pages_router()


async def queue_context(session: Session) -> dict[str, Any]:
    """The three lists (their oldest items) and their counts; ``rebuilding`` while the portal
    builds a read model that has the work queue (the API answers 503 meanwhile)."""
    try:
        summary = (await call(session, "GET", "portal", "/work-queue/summary")).json()
        shown = {kind: await _oldest(session, kind) for kind in KINDS}
    except PageError as error:
        if error.status != 503:
            raise
        summary, shown = dict.fromkeys(KINDS, 0), {kind: [] for kind in KINDS}
        return _context(session, summary, shown, rebuilding=True)
    return _context(session, summary, shown, rebuilding=False)


async def _oldest(session: Session, kind: str) -> list[dict[str, Any]]:
    query = {"kind": kind, "limit": str(QUEUE_LIMIT)}
    body = (await call(session, "GET", "portal", "/work-queue", params=query)).json()
    return list(body.get("items") or [])


def _context(
    session: Session,
    summary: dict[str, int],
    shown: dict[str, list[dict[str, Any]]],
    *,
    rebuilding: bool,
) -> dict[str, Any]:
    return {
        "session": session,
        "counts": summary,
        "lists": shown,
        "limit": QUEUE_LIMIT,
        "rebuilding": rebuilding,
        "queue_version": version([summary, shown, rebuilding]),
    }


async def start_page(request: Request, session: Session) -> Response:
    """``/app/`` for an adviser."""
    context = await queue_context(session)
    recent = await asyncio.to_thread(
        portal_view(request).dossiers, session.who.tenant, DOSSIER_LIST_LIMIT
    )
    return render(
        request,
        "work_queue.html",
        {**context, "dossiers": recent, "dossier_limit": DOSSIER_LIST_LIMIT},
    )


@router.get("/work-queue")
async def queue_partial(request: Request, v: str = "") -> Response:
    """The lists, as the page polls them (204 while nothing changed)."""
    session = await signed_in(request)
    adviser_only(session)
    context = await queue_context(session)
    if v and v == context["queue_version"]:
        return Response(status_code=204)
    return render(request, "_work_queue.html", context)
