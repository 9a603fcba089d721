"""What every page shares: the templates, the error a page shows (``PageError``), rendering with
the pages' headers, and the read model the portal service keeps itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.types import Message, Receive

from servicekit.settings import Settings
from services.portal_projection.views import PortalView
from services.portal_projection.web.labels import FILTERS

# The portal service's folder: its templates and static files stay there (package data).
PORTAL = Path(__file__).resolve().parents[1]
ACCEPT = "application/pdf,image/jpeg,image/png"

templates = Jinja2Templates(directory=PORTAL / "templates")
templates.env.filters.update(FILTERS)


class PageError(Exception):
    """Shown to the user as a page (or, for htmx, a message) with its HTTP status."""

    def __init__(self, status: int, title: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers


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


PAGE_BODY_BYTES = 64 * 1024
"""The most a page's form sends (a CSRF token, a review's reason), uploads aside."""

BodyBound = Callable[[Settings], tuple[int, PageError]]
"""A route's bound on request bodies: from the service's settings, its size in bytes and the
refusal (413) shown when a body is larger."""


def too_large(title: str, message: str) -> PageError:
    """The refusal of a body beyond its route's bound. The rest of the body is not read: the
    answer closes the connection (else uvicorn would read and discard the rest to keep it)."""
    return PageError(413, title, message, Connection="close")


def small_forms(settings: Settings) -> tuple[int, PageError]:
    """The bound of every page but the upload."""
    return PAGE_BODY_BYTES, too_large("Te groot", "Wat u verstuurde is te groot.")


def pages_router(body: BodyBound = small_forms) -> APIRouter:
    """A room's routes, under ``/app`` and out of the API's OpenAPI document, bounding request
    bodies by ``body``. Each room's router is added to the app itself (``install``), not nested
    in another router: the route a request matched then names its whole path (``/app/...``),
    which spans and metrics report."""

    class Route(BoundedRoute):
        def bound(self, settings: Settings) -> tuple[int, PageError]:
            return body(settings)

    return APIRouter(prefix="/app", include_in_schema=False, route_class=Route)


class BoundedRoute(APIRoute):
    """A page's route: a body beyond its bound is refused while it arrives (at once when its
    announced length is beyond it), before a form is parsed, with the bound's Dutch page.

    Not FastAPI's ``max_body_size`` (as the APIs use): that answers a plain-text 413 in place of
    any page when the announced length is too large, as it is for a browser's upload.
    """

    def bound(self, settings: Settings) -> tuple[int, PageError]:
        return small_forms(settings)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        bound = self.bound

        async def bounded(request: Request) -> Response:
            limit, refusal = bound(request.app.state.settings)
            announced = request.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > limit:
                raise refusal  # announced: refused before reading any of it
            return await handle(Request(request.scope, _counted(request.receive, limit, refusal)))

        return bounded


def _counted(receive: Receive, limit: int, refusal: PageError) -> Receive:
    """``receive``, raising ``refusal`` once more than ``limit`` body bytes arrived."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise refusal
        return message

    return counted


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
