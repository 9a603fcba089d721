"""The pages both audiences open: the list of dossiers, a dossier (the client's portal or the
adviser's dossier check, by role) and an upload to one of its documents."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from servicekit.settings import Settings
from services.portal_projection.web import adviser_pages, client_pages, work_queue
from services.portal_projection.web.backends import call
from services.portal_projection.web.pages import (
    PageError,
    dossier_page,
    is_htmx,
    pages_router,
    portal_view,
    render,
    too_large,
)
from services.portal_projection.web.session import posted_form, signed_in, visible_dossier

# Multipart framing around the file: a body this much larger than the limit is refused while it
# arrives (pages.BoundedRoute).
MULTIPART_SLACK = 64 * 1024

router = pages_router()


@router.get("/")
async def dossiers(request: Request) -> Response:
    """The start page: an adviser's work queue; a client's dossiers."""
    session = await signed_in(request)
    who = session.who
    if who.role == "adviser":
        return await work_queue.start_page(request, session)
    rows: list[dict[str, Any]] = []
    if who.role == "client":
        for dossier_id in sorted(who.dossiers):
            counts = await asyncio.to_thread(
                portal_view(request).dossier_progress, who.tenant, dossier_id
            )
            rows.append({"dossier_id": dossier_id, **counts})
    return render(request, "dossiers.html", {"session": session, "dossiers": rows})


@router.get("/dossiers/{dossier_id}")
async def dossier(request: Request, dossier_id: str) -> Response:
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    if session.who.role == "client":
        context = await client_pages.client_context(request, session, dossier_id)
        return render(request, "client_dossier.html", context)
    context = await adviser_pages.adviser_context(session, dossier_id)
    return render(request, "adviser_dossier.html", context)


def too_large_file(limit: int) -> PageError:
    return too_large(
        "Bestand te groot",
        f"Het bestand is te groot. Een bestand mag hoogstens {limit // (1024 * 1024)} MB zijn.",
    )


def upload_body(settings: Settings) -> tuple[int, PageError]:
    """An upload's bound: the upload limit and the multipart framing around the file."""
    return settings.max_upload_bytes + MULTIPART_SLACK, too_large_file(settings.max_upload_bytes)


uploads = pages_router(upload_body)


@uploads.post("/dossiers/{dossier_id}/documents/{document_id}/upload")
async def upload(request: Request, dossier_id: str, document_id: str) -> Response:
    """Upload one file or several (one version: both sides of an ID card) for a document (the
    client's action point, or the adviser's check); ``append`` adds them to the latest version,
    not yet reviewed."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    limit = request.app.state.settings.max_upload_bytes
    form = await posted_form(request, session)
    # The page offers a file picker (several at once) and a camera input; chosen files have
    # a name.
    chosen = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    if not chosen:
        raise PageError(422, "Geen bestand", "Kies eerst een bestand.")
    parts = []
    for file in chosen:
        content = await file.read(limit + 1)
        if len(content) > limit:
            raise too_large_file(limit)
        if not content:
            raise PageError(
                422, "Leeg bestand", f"{file.filename} is leeg. Kies een ander bestand."
            )
        parts.append(("file", (file.filename or "upload", content, file.content_type or "")))
    append = form.get("append") == "true"
    await call(
        session,
        "POST",
        "dossiercontrole",
        f"/documents/{quote(document_id, safe='')}/upload",
        files=parts,
        params={"append": "true"} if append else None,
    )
    if not is_htmx(request):
        return dossier_page(dossier_id)
    # htmx gets the refreshed part of the page with a notice.
    refreshed = (
        client_pages.action_points if session.who.role == "client" else adviser_pages.documents
    )
    return await refreshed(
        request,
        session,
        dossier_id,
        notice="Bedankt, uw bestand is ontvangen."
        if len(parts) == 1
        else f"Bedankt, uw {len(parts)} bestanden zijn ontvangen.",
        just_uploaded=document_id,
    )
