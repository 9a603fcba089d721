"""The client portal (klantportaal): the client's dossier page with its action points and
progress, and the part of it the page polls.

No rule is copied here: the action points come from the same read model and query as the portal
API (``PortalView``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response

from services.portal_projection.web.backends import call
from services.portal_projection.web.pages import (
    ACCEPT,
    PageError,
    dossier_page,
    is_htmx,
    pages_router,
    portal_view,
    render,
    version,
)
from services.portal_projection.web.session import (
    Session,
    posted_form,
    signed_in,
    visible_dossier,
)

router = pages_router()


async def client_context(
    request: Request, session: Session, dossier_id: str, **extra: Any
) -> dict[str, Any]:
    view, tenant = portal_view(request), session.who.tenant
    points = await asyncio.to_thread(view.action_points, tenant, dossier_id)
    counts = await asyncio.to_thread(view.dossier_progress, tenant, dossier_id)
    return {
        "session": session,
        "dossier_id": dossier_id,
        "points": points,
        "progress": counts,
        "version": version([points, counts]),
        "accept": ACCEPT,
        "max_mb": request.app.state.settings.max_upload_bytes // (1024 * 1024),
        **extra,
    }


async def action_points(
    request: Request, session: Session, dossier_id: str, **extra: Any
) -> Response:
    """The client's action points as htmx swaps them in after a change (``extra``: a notice)."""
    context = await client_context(request, session, dossier_id, **extra)
    return render(request, "_action_points.html", context)


@router.get("/dossiers/{dossier_id}/action-points")
async def action_points_partial(request: Request, dossier_id: str, v: str = "") -> Response:
    """The polled part of the client page; 204 (htmx leaves the page alone) while unchanged."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    context = await client_context(request, session, dossier_id)
    if v and v == context["version"]:
        return Response(status_code=204)
    return render(request, "_action_points.html", context)


@router.post("/dossiers/{dossier_id}/action-points/{action_point_id}/not-applicable")
async def not_applicable(request: Request, dossier_id: str, action_point_id: str) -> Response:
    """ "Niet van toepassing": the client answers an open action point with a note; the
    dossier check decides who may (its own dossier, an open point) and the adviser decides."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    form = await posted_form(request, session)
    note = str(form.get("note") or "").strip()
    if not note:
        raise PageError(
            422,
            "Controleer de invoer",
            "Schrijf kort op waarom dit niet van toepassing is: uw adviseur leest het.",
        )
    await call(
        session,
        "POST",
        "dossiercontrole",
        f"/action-points/{quote(action_point_id, safe='')}/not-applicable",
        json={"note": note},
    )
    if not is_htmx(request):
        return dossier_page(dossier_id)
    return await action_points(
        request,
        session,
        dossier_id,
        notice="Bedankt. Uw adviseur beoordeelt of dit document inderdaad niet nodig is.",
        just_claimed=action_point_id,
    )
