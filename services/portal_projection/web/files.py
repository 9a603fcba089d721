"""Opening a delivered file from the pages (SPEC section 7): the browser holds the session
cookie, not a bearer token, so the portal fetches the file from the dossier-check API as the
signed-in user and streams it on, with that API's headers (its type, ``inline``, the sandbox,
``no-store``): the dossier check decides who may open it and records that they did."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

import httpx
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from servicekit.settings import service_url
from services.portal_projection.web.backends import refusal, request_headers
from services.portal_projection.web.pages import PageError, pages_router
from services.portal_projection.web.session import signed_in, visible_dossier

# What the dossier check says of a file, passed on as it said it.
PASSED_ON = (
    "content-type",
    "content-length",
    "content-disposition",
    "x-content-type-options",
    "content-security-policy",
    "cache-control",
    "etag",
)

router = pages_router()


@router.get("/dossiers/{dossier_id}/documents/{document_id}/file")
async def open_file(
    request: Request,
    dossier_id: str,
    document_id: str,
    version: Annotated[int | None, Query(ge=1)] = None,
    part: Annotated[int | None, Query(ge=1)] = None,
    merged: Annotated[Literal["0", "1"], Query()] = "0",
) -> Response:
    """A version of a document's file (the latest without ``version``), opened in the browser
    (``inline``: PDF and images show in a new tab): one ``part`` of a version of several
    files, or all of them as one PDF (``merged=1``)."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    params = {"inline": "1", **({"version": str(version)} if version else {})}
    if part:
        params["part"] = str(part)
    if merged == "1":
        params["merged"] = "1"
    client = httpx.AsyncClient(timeout=30)
    try:
        upstream = await client.send(
            client.build_request(
                "GET",
                f"{service_url('dossiercontrole')}/documents/{quote(document_id, safe='')}/file",
                params=params,
                headers=request_headers(session),
            ),
            stream=True,
        )
    except httpx.HTTPError:
        await client.aclose()
        raise PageError(
            503, "Tijdelijk niet bereikbaar", "Het bestand is even niet bereikbaar."
        ) from None
    if upstream.status_code >= 400:
        await upstream.aread()
        await client.aclose()
        raise refusal(upstream)
    headers = {name: upstream.headers[name] for name in PASSED_ON if name in upstream.headers}
    return StreamingResponse(
        upstream.aiter_raw(),
        headers=headers,
        background=BackgroundTask(_close, upstream, client),
    )


async def _close(upstream: httpx.Response, client: httpx.AsyncClient) -> None:
    await upstream.aclose()
    await client.aclose()
