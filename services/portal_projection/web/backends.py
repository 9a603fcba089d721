"""The calls to the other services' HTTP APIs (the dossier check, uploads, scenarios), made with
the signed-in user's own bearer token, so that access control is exactly theirs; their refusals
become Dutch messages."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from servicekit import tracing
from servicekit.pages import MAX_LIMIT as PAGE_LIMIT
from servicekit.settings import service_url
from services.portal_projection.web.pages import PageError
from services.portal_projection.web.session import Session

log = logging.getLogger(__name__)


MESSAGES = {
    401: ("Sessie verlopen", "Uw sessie is verlopen. Meld u opnieuw aan."),
    403: ("Geen toegang", "U mag dit niet doen."),
    404: ("Niet gevonden", "Dit bestaat niet (meer) of is niet van u."),
    409: ("Kan niet meer", "Dit kan niet meer in de huidige stand van het document."),
    413: ("Bestand te groot", "Het bestand is te groot."),
    415: (
        "Verkeerd bestandstype",
        "Dit bestandstype wordt niet ondersteund. Kies een PDF, JPEG of PNG.",
    ),
    422: ("Controleer de invoer", "De invoer is niet geldig."),
}
"""What the user reads when another service refuses, by its HTTP status."""
REASONS = (
    (
        "password-protected",
        "Bestand beveiligd",
        "Dit PDF-bestand is beveiligd met een wachtwoord, zodat wij het niet kunnen openen. "
        "Sla het op zonder wachtwoord, of maak een foto of scan, en probeer het opnieuw.",
    ),
    (
        "cannot be read",
        "Bestand onleesbaar",
        "Dit PDF-bestand kan niet worden geopend; het is mogelijk beschadigd. Kies een ander "
        "bestand, of maak een foto of scan.",
    ),
    (
        "takes no more files",
        "Al beoordeeld",
        "Dit document is al beoordeeld: er kunnen geen bestanden meer bij. Lever het opnieuw aan.",
    ),
)
"""Refusals whose reason (the other service's ``detail``, English) the user gets in Dutch:
(a phrase of that reason, the title, the message)."""

UNAVAILABLE = (
    "Tijdelijk niet beschikbaar",
    "Er ging iets mis bij de dienst. Probeer het zo opnieuw.",
)


def detail(response: httpx.Response) -> str:
    """The other service's own reason (``detail``), as one line."""
    try:
        said = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    if isinstance(said, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
            for d in said
            if isinstance(d, dict)
        )
    return str(said or "")


def refusal(response: httpx.Response) -> PageError:
    """Another service's refusal as the page the user sees; a failure of its own is a 503."""
    title, message = MESSAGES.get(response.status_code, UNAVAILABLE)
    reason = detail(response)
    known = [(t, m) for phrase, t, m in REASONS if phrase in reason]
    if known and response.status_code in {409, 422}:
        title, message = known[0]
    elif response.status_code in {409, 422} and reason:
        message = f"{message} ({reason})"
    status = response.status_code if response.status_code < 500 else 503
    return PageError(status, title, message)


def request_headers(session: Session) -> dict[str, str]:
    """The headers of a call as the signed-in user: their token, and the page request's trace
    (the user's click continues in the other service)."""
    return {"Authorization": f"Bearer {session.token}", **tracing.outgoing_headers()}


async def call(
    session: Session, method: str, service: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call another service as the signed-in user; its refusals become ``PageError``."""
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(
                method, service_url(service) + path, headers=request_headers(session), **kwargs
            )
    except httpx.HTTPError as error:
        log.warning("%s unreachable: %s", service, error)
        raise PageError(
            503,
            "Tijdelijk niet bereikbaar",
            "Deze functie is even niet bereikbaar. Probeer het zo opnieuw.",
        ) from None
    if response.status_code < 400:
        return response
    raise refusal(response)


async def every_page(
    session: Session, service: str, path: str, field: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every item of a list API, following its pages (``next_cursor``)."""
    items: list[dict[str, Any]] = []
    query: dict[str, str] = {**(params or {}), "limit": str(PAGE_LIMIT)}
    while True:
        body = (await call(session, "GET", service, path, params=query)).json()
        if not isinstance(body, dict):
            return items
        items.extend(body.get(field) or [])
        if not body.get("next_cursor"):
            return items
        query["cursor"] = body["next_cursor"]
