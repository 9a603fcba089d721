"""Who is signed in: the session cookie, the CSRF token derived from it, signing in and out, and
the checks of who may see which page.

A browser cannot send a bearer header, so ``/app/signin?token=<JWT>`` exchanges the token for an
HttpOnly, SameSite=Strict session cookie that carries it. Every form POST also carries a CSRF
token (a hidden field, or htmx's ``X-CSRF-Token`` header) derived from the session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from servicekit.auth import Identity, decode_token
from services.portal_projection.web.pages import PageError, pages_router, render

log = logging.getLogger(__name__)

COOKIE = "actiepunten_sessie"

router = pages_router()


@dataclass(frozen=True)
class Session:
    who: Identity
    token: str
    csrf: str


def _csrf_for(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:40]


def _secret(request: Request) -> str:
    return str(request.app.state.settings.jwt_secret)


def signed_in(request: Request) -> Session:
    """The session of the request's cookie; without a valid one, a 401 page."""
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise PageError(
            401, "Niet aangemeld", "U bent niet aangemeld. Gebruik de aanmeldlink die u kreeg."
        )
    try:
        who = decode_token(token, _secret(request))
    except HTTPException:
        raise PageError(
            401,
            "Sessie verlopen",
            "Uw sessie is verlopen of ongeldig. Meld u opnieuw aan met een nieuwe aanmeldlink.",
        ) from None
    return Session(who=who, token=token, csrf=_csrf_for(token, _secret(request)))


def check_csrf(request: Request, session: Session, form: FormData | None) -> None:
    sent = request.headers.get("x-csrf-token", "")
    if not sent and form is not None:
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise PageError(
            403,
            "Verzoek geweigerd",
            "Dit formulier is verlopen of kwam niet van deze pagina. Laad de pagina opnieuw.",
        )


async def posted_form(request: Request, session: Session) -> FormData:
    """The posted form, read within limits, and sent from one of this session's pages."""
    try:
        form = await request.form(max_files=2, max_fields=100)
    except PageError:
        raise  # the body was beyond the route's bound (pages.BoundedRoute)
    except Exception:
        raise PageError(
            400, "Ongeldig formulier", "Het formulier kon niet worden gelezen."
        ) from None
    check_csrf(request, session, form)
    return form


def visible_dossier(session: Session, dossier_id: str) -> None:
    """SPEC section 4: a client sees only its claim's dossiers; anything else is 'not found'."""
    if session.who.role not in {"client", "adviser"}:
        raise PageError(403, "Geen toegang", "Met deze rol heeft u geen dossierpagina.")
    if not session.who.may_see_dossier(dossier_id):
        raise PageError(
            404,
            "Dossier niet gevonden",
            f"Het dossier '{dossier_id}' bestaat niet of is niet van u.",
        )


def adviser_only(session: Session) -> None:
    if session.who.role != "adviser":
        raise PageError(403, "Geen toegang", "Alleen een adviseur kan dit doen.")


def strict_cookie_withheld(request: Request) -> bool:
    """A navigation from another site, so the browser kept the SameSite=Strict cookie back."""
    return (
        request.method == "GET"
        and COOKIE not in request.cookies
        and request.headers.get("sec-fetch-site") == "cross-site"
        and request.headers.get("sec-fetch-mode") == "navigate"
    )


@router.get("/signin")
async def signin(request: Request, token: str = "") -> Response:
    """Exchange a bearer token (the sign-in link) for the session cookie."""
    try:
        who = decode_token(token, _secret(request))
    except HTTPException:
        raise PageError(
            401,
            "Aanmelden mislukt",
            "Deze aanmeldlink is ongeldig of verlopen. Vraag een nieuwe aan.",
        ) from None
    response = RedirectResponse("/app/", status_code=303)
    claims_exp = _expiry(token)
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(0, claims_exp - int(time.time())) if claims_exp else None,
        path="/app",
        httponly=True,
        samesite="strict",
        secure=_is_https(request),
    )
    log.info("web sign-in of %s:%s in %s", who.role, who.sub, who.tenant)
    return response


def _expiry(token: str) -> int | None:
    import jwt

    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return int(exp) if isinstance(exp, int | float) else None


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = signed_in(request)
    check_csrf(request, session, await request.form())
    response = render(
        request,
        "message.html",
        {"title": "Afgemeld", "message": "U bent afgemeld.", "session": None},
    )
    response.delete_cookie(COOKIE, path="/app", httponly=True, samesite="strict")
    return response
