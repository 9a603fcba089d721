"""What every page shares: the templates, the error a page shows (``PageError``), rendering with
the pages' headers, and the read model the portal service keeps itself."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from services.portal_projection.views import PortalView
from services.portal_projection.web.labels import FILTERS

# The portal service's folder: its templates and static files stay there (package data).
PORTAL = Path(__file__).resolve().parents[1]
ACCEPT = "application/pdf,image/jpeg,image/png"

templates = Jinja2Templates(directory=PORTAL / "templates")
templates.env.filters.update(FILTERS)


class PageError(Exception):
    """Shown to the user as a page (or, for htmx, a message) with its HTTP status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


# Pages carry personal data and act with the user's session: not cached, not framed, scripts
# only from this origin (the progress bar's width is an inline style).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def pages_router() -> APIRouter:
    """A room's routes, under ``/app`` and out of the API's OpenAPI document. Each room's router
    is added to the app itself (``install``), not nested in another router: the route a request
    matched then names its whole path (``/app/...``), which spans and metrics report."""
    return APIRouter(prefix="/app", include_in_schema=False)


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, **headers: str
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers={**PAGE_HEADERS, **headers}
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def dossier_page(dossier_id: str) -> Response:
    """Back to the dossier's page: where a form posted without script goes after a change."""
    return RedirectResponse(f"/app/dossiers/{quote(dossier_id, safe='')}", status_code=303)


def version(data: Any) -> str:
    """A short fingerprint of what a partial shows: polling gets 204 while it is unchanged."""
    raw = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def portal_view(request: Request) -> PortalView:
    return request.app.state.view  # type: ignore[no-any-return]
