"""Who is signed in: the session cookie, the CSRF token derived from it, and the checks of who
may see which page. Signing in and out is ``signin.py``; the sessions are ``signins.py``.

The cookie holds only an opaque session id; the session lives in the portal's sign-in store
(every replica sees it, sign-out ends it there). The calls the pages make to the other services'
APIs need a bearer token: each request mints one from the session's person, valid a few minutes,
with a client's dossiers as they are now (the contacts read model). Every form POST also carries
a CSRF token (a hidden field, or htmx's ``X-CSRF-Token`` header) derived from the session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request, Response
from starlette.datastructures import FormData

from servicekit.auth import Identity, issue_token
from services.portal_projection.signins import LONGEST_SECONDS, Person, SignIns
from services.portal_projection.web.pages import PageError, portal_view

COOKIE = "actiepunten_sessie"
TOKEN_SECONDS = 300
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class Session:
    who: Identity
    token: str
    csrf: str
    session_id: str = ""


def _csrf_for(session_id: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()[
        :40
    ]


def _secret(request: Request) -> str:
    return str(request.app.state.settings.jwt_secret)


def signins(request: Request) -> SignIns:
    return request.app.state.signins  # type: ignore[no-any-return]


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    """The session's cookie: HttpOnly, SameSite=Strict, Secure outside this machine."""
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=LONGEST_SECONDS,
        path="/app",
        httponly=True,
        samesite="strict",
        secure=request.url.hostname not in LOCAL_HOSTS,
    )


async def signed_in(request: Request) -> Session:
    """The session of the request's cookie; without a live one, a 401 page."""
    session_id = request.cookies.get(COOKIE, "")
    if not session_id:
        raise PageError(401, "Niet aangemeld", "U bent niet aangemeld. Vraag een aanmeldmail aan.")
    person = await asyncio.to_thread(signins(request).session, session_id)
    if person is None:
        raise PageError(
            401,
            "Sessie verlopen",
            "Uw sessie is verlopen of beëindigd. Meld u opnieuw aan.",
        )
    who = await asyncio.to_thread(identity_of, request, person)
    token = issue_token(
        _secret(request),
        sub=who.sub,
        tenant=who.tenant,
        role=who.role,
        dossiers=sorted(who.dossiers) if who.role == "client" else None,
        ttl_seconds=TOKEN_SECONDS,
    )
    return Session(who, token, _csrf_for(session_id, _secret(request)), session_id)


def identity_of(request: Request, person: Person) -> Identity:
    """The person as the services know callers; a client's dossiers named, or those where its
    address is a contact now."""
    dossiers = person.dossiers
    if person.role == "client" and dossiers is None:
        contacts = portal_view(request).contacts_at(person.tenant, person.email or "")
        dossiers = tuple(contact["dossier_id"] for contact in contacts)
    return Identity(person.sub, person.tenant, person.role, frozenset(dossiers or ()))


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


async def read_form(request: Request, *, max_files: int = 2, max_fields: int = 100) -> FormData:
    """The posted form, read within limits; an unreadable one is a 400 page."""
    try:
        return await request.form(max_files=max_files, max_fields=max_fields)
    except PageError:
        raise  # the body was beyond the route's bound (pages.BoundedRoute)
    except Exception:
        raise PageError(
            400, "Ongeldig formulier", "Het formulier kon niet worden gelezen."
        ) from None


async def posted_form(request: Request, session: Session) -> FormData:
    """The posted form, read within limits, and sent from one of this session's pages."""
    form = await read_form(request)
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
