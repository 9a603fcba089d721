"""The web pages (SPEC section 6): the client portal (klantportaal) and the adviser's dossier
check (dossiercontrole), server-rendered with Jinja2 and htmx on the portal service's origin.

One room per idea: ``session`` (the cookie, CSRF, who may see what), ``signin`` (signing in by
mail and out), ``staff_signin`` (staff through the office's OpenID provider),
``backends`` (the calls to the other services), ``client_pages`` and ``adviser_pages`` (each
audience's pages), ``dossiers`` (the pages both open: the list, a dossier, an upload),
``work_queue`` (the adviser's start page), ``files`` (opening a delivered file),
``labels`` (the Dutch words for the services' values) and ``pages`` (templates, rendering,
``PageError``). This module puts them under ``/app`` and into the portal service's app.

No rule is copied here. The client's action points come from the same read model and query as
the portal API (``PortalView``); a subject's scope is the contracts' ``scope_of``. Everything the
portal service cannot read itself (the dossier check, uploads, scenarios) goes to the other
services' HTTP APIs with the signed-in user's own bearer token, so access control is exactly
theirs; their answers become Dutch messages.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from servicekit.settings import service_url
from services.portal_projection.web import (
    adviser_pages,
    client_pages,
    dossiers,
    files,
    signin,
    staff_signin,
    work_queue,
)
from services.portal_projection.web.pages import (
    PORTAL,
    PageError,
    is_htmx,
    pages_router,
    render,
    templates,
)
from services.portal_projection.web.session import Session, strict_cookie_withheld

__all__ = ["ROOMS", "PageError", "Session", "install", "service_url", "templates"]

unknown = pages_router()


@unknown.get("/{path:path}")
async def unknown_page(request: Request, path: str) -> Response:
    """Any other address under /app: a page, not the API's JSON."""
    raise PageError(404, "Pagina niet gevonden", "Deze pagina bestaat niet.")


ROOMS = (
    signin.router,
    staff_signin.router,
    dossiers.router,
    dossiers.uploads,
    work_queue.router,
    files.router,
    client_pages.router,
    adviser_pages.router,
    unknown,
)
"""The pages' routers, in the order their addresses are tried: the catch-all last."""


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the portal service's app."""
    # The static files first: the pages' catch-all would answer for them otherwise.
    app.mount("/app/static", StaticFiles(directory=PORTAL / "static"), name="web-static")
    for part in ROOMS:
        app.include_router(part)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, error: PageError) -> Response:
        if error.status == 401 and strict_cookie_withheld(request):
            # A link on another site (the sign-in link in an e-mail) started this navigation,
            # so the browser kept the SameSite=Strict cookie back. Navigating again from this
            # origin sends it; without a session that ends on the 401 page as usual.
            return render(request, "continue.html", {"target": request.url.path, "session": None})
        context = {
            "title": error.title,
            "message": error.message,
            "status": error.status,
            "session": None,
        }
        if is_htmx(request):
            # Shown in the page's message area; the rest of the page stays as it was.
            return render(
                request,
                "_message.html",
                {**context, "error": True},
                status=error.status,
                **{"HX-Retarget": "#meldingen", "HX-Reswap": "innerHTML", **error.headers},
            )
        return render(
            request,
            "message.html",
            {**context, "error": True},
            status=error.status,
            **error.headers,
        )
