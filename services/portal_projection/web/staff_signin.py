"""Staff sign in through the office's OpenID provider (SPEC section 10): the authorization code
flow with PKCE, ending in the same server-side session as a client's sign-in by mail.

``GET /app/signin/staff`` sends the browser to the provider with a fresh ``state``, ``nonce``
and PKCE challenge; what the callback needs to check them (and the verifier) travels in a short
cookie of its own, signed with the service's secret, so that any replica can take the callback.
That cookie is SameSite=Lax: the callback is a navigation the provider's site starts, which a
Strict cookie would not come along with. The callback trades the code for the provider's ID
token (with the verifier and the client's secret), checks it as the APIs check the provider's
tokens (``servicekit.oidc``) plus the nonce, and starts a session for the role and office that
the configured claims name. Only staff (admin, adviser) sign in this way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from fastapi import HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from servicekit.auth import identity_of
from servicekit.mail import portal_url
from servicekit.oidc import IssuerUnreachable, OidcSettings, TokenRefused, issuer_for
from services.portal_projection.signins import Person
from services.portal_projection.web.pages import PageError, pages_router, render
from services.portal_projection.web.session import LOCAL_HOSTS, set_session_cookie, signins
from services.portal_projection.web.signin import safe_next

log = logging.getLogger(__name__)

router = pages_router()

PENDING_COOKIE = "actiepunten_oidc"
PENDING_SECONDS = 600
"""How long a started sign-in may take at the provider."""
CALLBACK = "/app/signin/staff/callback"
STAFF_ROLES = frozenset({"admin", "adviser"})


def _oidc(request: Request) -> OidcSettings:
    oidc: OidcSettings | None = getattr(request.app.state.settings, "oidc", None)
    if oidc is None:
        raise PageError(
            404,
            "Niet ingericht",
            "Aanmelden via uw organisatie is hier niet ingericht. Vraag uw beheerder.",
        )
    return oidc


def _refused(reason: str) -> PageError:
    log.warning("staff sign-in refused: %s", reason)
    return PageError(
        401,
        "Aanmelden mislukt",
        "Het aanmelden via uw organisatie is niet gelukt of verlopen. Probeer het opnieuw.",
    )


def _unreachable() -> PageError:
    return PageError(
        503,
        "Tijdelijk niet bereikbaar",
        "De aanmeldserver van uw organisatie is even niet bereikbaar. Probeer het zo opnieuw.",
    )


def _challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636 4.2): base64url of the verifier's SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@router.get("/signin/staff")
async def staff_signin(request: Request, next: str = "/app/") -> Response:
    """Start: off to the office's OpenID provider, with state, nonce and PKCE challenge."""
    oidc = _oidc(request)
    try:
        metadata = await asyncio.to_thread(issuer_for(oidc).metadata)
    except IssuerUnreachable as error:
        log.warning("OpenID provider unreachable: %s", error)
        raise _unreachable() from None
    pending = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(48),
        "next": safe_next(next),
        "exp": int(time.time()) + PENDING_SECONDS,
    }
    query = {
        "response_type": "code",
        "client_id": oidc.client_id,
        "redirect_uri": portal_url() + CALLBACK,
        "scope": "openid email profile",
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": _challenge(str(pending["verifier"])),
        "code_challenge_method": "S256",
    }
    response = RedirectResponse(f"{metadata['authorization_endpoint']}?{urlencode(query)}", 303)
    response.set_cookie(
        PENDING_COOKIE,
        jwt.encode(pending, _secret(request), algorithm="HS256"),
        max_age=PENDING_SECONDS,
        path="/app/signin/staff",
        httponly=True,
        samesite="lax",
        secure=request.url.hostname not in LOCAL_HOSTS,
    )
    return response


def _secret(request: Request) -> str:
    return str(request.app.state.settings.jwt_secret)


def _pending(request: Request, state: str) -> dict[str, Any]:
    """The sign-in this browser started, if ``state`` is the one it was sent off with."""
    try:
        pending: dict[str, Any] = jwt.decode(
            request.cookies.get(PENDING_COOKIE, ""), _secret(request), algorithms=["HS256"]
        )
    except jwt.InvalidTokenError:
        raise _refused("no sign-in started in this browser, or it took too long") from None
    if not state or not hmac.compare_digest(str(pending.get("state", "")), state):
        raise _refused("the state does not match the sign-in this browser started")
    return pending


async def _id_token(oidc: OidcSettings, code: str, verifier: str) -> str:
    """The provider's ID token for the code (client_secret_basic, or a public client)."""
    token_endpoint = str((await asyncio.to_thread(issuer_for(oidc).metadata))["token_endpoint"])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": portal_url() + CALLBACK,
        "code_verifier": verifier,
    }
    secret = await asyncio.to_thread(oidc.client_secret)
    auth: httpx.Auth | None = None
    if secret is None:
        form["client_id"] = oidc.client_id  # a public client: PKCE alone binds the code
    else:
        # RFC 6749 2.3.1: both form-encoded before they are joined and base64-encoded, so a
        # secret holding ':' or '%' arrives as it is.
        auth = httpx.BasicAuth(quote(oidc.client_id, safe=""), quote(secret, safe=""))
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(
                token_endpoint, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
    except httpx.HTTPError as error:
        log.warning("OpenID token endpoint unreachable: %s", type(error).__name__)
        raise _unreachable() from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if answer.status_code != 200 or not isinstance(body.get("id_token"), str):
        raise _refused(f"the token endpoint answered {answer.status_code} {body.get('error')}")
    return str(body["id_token"])


def _person(oidc: OidcSettings, claims: dict[str, Any]) -> Person:
    """The staff member the ID token names, with the role and office of the configured claims."""
    try:
        who = identity_of(claims, role_claim=oidc.role_claim, tenant_claim=oidc.tenant_claim)
    except HTTPException as error:
        raise _refused(f"the ID token's claims: {error.detail}") from None
    if who.role not in STAFF_ROLES:
        raise PageError(
            403,
            "Geen toegang",
            "Alleen medewerkers van het kantoor melden zich zo aan. Klanten krijgen een "
            "aanmeldlink per e-mail.",
        )
    email = claims.get("email")
    return Person(who.tenant, who.role, who.sub, email=email if isinstance(email, str) else None)


@router.get("/signin/staff/callback")
async def staff_callback(
    request: Request, code: str = "", state: str = "", error: str = ""
) -> Response:
    """Back from the provider: check everything, start the session, go on from our origin."""
    oidc = _oidc(request)
    pending = _pending(request, state)
    if error or not code:
        raise _refused(f"the provider answered {error or 'no code'}")
    id_token = await _id_token(oidc, code, str(pending["verifier"]))
    try:
        claims = await asyncio.to_thread(issuer_for(oidc).verify, id_token, audience=oidc.client_id)
    except TokenRefused as refused:
        raise _refused(f"ID token: {refused}") from None
    except IssuerUnreachable as unreachable:
        log.warning("OpenID provider unreachable: %s", unreachable)
        raise _unreachable() from None
    if not hmac.compare_digest(str(claims.get("nonce", "")), str(pending["nonce"])):
        raise _refused("the ID token's nonce is not this sign-in's")
    person = _person(oidc, claims)
    session_id = await asyncio.to_thread(signins(request).start_session, person)
    # The callback was a navigation the provider's site started: the browser would keep the
    # SameSite=Strict session cookie back from a redirect now, so the page navigates on from
    # our own origin (as the 401 page for such a navigation does).
    target = safe_next(str(pending["next"]))
    response = render(request, "continue.html", {"target": target, "session": None})
    set_session_cookie(request, response, session_id)
    response.delete_cookie(PENDING_COOKIE, path="/app/signin/staff", httponly=True, samesite="lax")
    log.info("staff sign-in of %s:%s in %s", person.role, person.sub, person.tenant)
    return response
