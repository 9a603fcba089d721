"""Signing in and out (SPEC section 8), without a credential in any link.

The sign-in page asks for the e-mail address; ``POST /app/signin/link`` answers the same page
whether the address is known or not, and mails a known contact a one-time confirm link. Opening
that link (``GET /app/signin/confirm``) only shows a button, since scanners fetch links in mails:
the button's POST, carrying the code, signs in. The one-time code itself protects that POST (no
session exists yet to derive a CSRF token from, and a forged POST would need the code).
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.background import BackgroundTask

from servicekit.mail import mail_sender, portal_url
from services.portal_projection import signin_mail
from services.portal_projection.signins import Person, confirm_link
from services.portal_projection.web.pages import PageError, pages_router, portal_view, render
from services.portal_projection.web.session import (
    COOKIE,
    check_csrf,
    read_form,
    set_session_cookie,
    signed_in,
    signins,
)

log = logging.getLogger(__name__)

router = pages_router()


def safe_next(path: str) -> str:
    """Where to go after signing in: a path of the pages on this origin, else ``/app/``."""
    if (
        path.startswith("/app/")
        and "//" not in path
        and "\\" not in path
        and ":" not in path.split("?", 1)[0]
        and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
    ):
        return path
    return "/app/"


def _signin_page(
    request: Request, office: str, next_path: str, *, sent: bool = False, email: str = ""
) -> Response:
    context = {"office": office, "next": safe_next(next_path), "sent": sent, "email": email}
    # Staff sign in through the office's OpenID provider, where one is configured.
    context["staff"] = getattr(request.app.state.settings, "oidc", None) is not None
    return render(request, "signin.html", {**context, "session": None})


@router.get("/signin")
async def signin(request: Request, office: str = "", next: str = "/app/") -> Response:
    """The sign-in page: the e-mail address, for a link by mail."""
    return _signin_page(request, office, next)


async def _fields(request: Request, *names: str) -> dict[str, str]:
    form = await read_form(request, max_files=0, max_fields=10)
    values = {name: form.get(name) for name in names}
    return {name: value if isinstance(value, str) else "" for name, value in values.items()}


@router.post("/signin/link")
async def signin_link(request: Request) -> Response:
    """Mail a known contact a confirm link; the same page for every address."""
    fields = await _fields(request, "office", "email", "next")
    office, email = fields["office"].strip(), fields["email"].strip()
    client_ip = request.client.host if request.client else ""
    keys = [("address", f"{office}\n{email.lower()}"), ("ip", client_ip)]
    if not await asyncio.to_thread(signins(request).allow_request, keys):
        raise PageError(
            429,
            "Te veel aanvragen",
            "Er zijn te veel aanmeldmails aangevraagd voor dit adres of vanaf deze verbinding. "
            "Probeer het over een kwartier opnieuw.",
        )
    message = await asyncio.to_thread(_mail_for, request, office, email, fields["next"])
    response = _signin_page(request, office, fields["next"], sent=True)
    if message is not None:
        response.background = BackgroundTask(signin_mail.send, request.app.state.mailer, message)
    return response


def _mail_for(request: Request, office: str, email: str, next_path: str) -> EmailMessage | None:
    """The mail with a new code for the contact with this address in ``office``, if any."""
    contacts = portal_view(request).contacts_at(office, email) if office and email else []
    if not contacts:
        log.info("sign-in mail asked for an address that is no contact in %s", office)
        return None
    contact = contacts[0]
    person = Person(office, "client", contact["client_id"], email=contact["email"])
    code = signins(request).issue_code(person, safe_next(next_path))
    link = confirm_link(portal_url(), code)
    return signin_mail.compose(contact, office, link, mail_sender())


def _code_refused() -> PageError:
    return PageError(
        401,
        "Aanmelden mislukt",
        "Deze aanmeldlink is al gebruikt, verlopen of ongeldig. Vraag een nieuwe aanmeldmail aan.",
    )


@router.get("/signin/confirm")
async def confirm_page(request: Request, code: str = "") -> Response:
    """What the link in the mail opens: who would be signed in, and a button. Changes nothing."""
    person = await asyncio.to_thread(signins(request).code_holder, code) if code else None
    if person is None:
        raise _code_refused()
    who = person.email if person.role == "client" and person.email else person.sub
    context = {"who": who, "office": person.tenant, "code": code, "session": None}
    return render(request, "signin_confirm.html", context)


@router.post("/signin/confirm")
async def confirm(request: Request) -> Response:
    """Use the code once: a session, its cookie, and on to ``next``."""
    code = (await _fields(request, "code"))["code"]
    redeemed = await asyncio.to_thread(signins(request).redeem, code) if code else None
    if redeemed is None:
        raise _code_refused()
    response = RedirectResponse(safe_next(redeemed.next), status_code=303)
    set_session_cookie(request, response, redeemed.session_id)
    person = redeemed.person
    log.info("web sign-in of %s:%s in %s", person.role, person.sub, person.tenant)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    """End the session on the server (its cookie no longer opens anything) and forget it."""
    session = await signed_in(request)
    check_csrf(request, session, await read_form(request, max_files=0, max_fields=10))
    await asyncio.to_thread(signins(request).end_session, session.session_id)
    response = render(
        request,
        "message.html",
        {"title": "Afgemeld", "message": "U bent afgemeld.", "session": None},
    )
    response.delete_cookie(COOKIE, path="/app", httponly=True, samesite="strict")
    return response
