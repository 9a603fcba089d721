"""The web pages (SPEC section 6): the client portal (klantportaal) and the adviser's dossier
check (dossiercontrole), server-rendered with Jinja2 and htmx on the portal service's origin.

A browser cannot send a bearer header, so ``/app/signin?token=<JWT>`` exchanges the token for an
HttpOnly, SameSite=Strict session cookie that carries it. Every form POST also carries a CSRF
token (a hidden field, or htmx's ``X-CSRF-Token`` header) derived from the session.

No rule is copied here. The client's action points come from the same read model and query as
the portal API (``PortalView``). Everything the portal service cannot read itself (the dossier
check, uploads, scenarios) goes to the other services' HTTP APIs with the signed-in user's own
bearer token, so access control is exactly theirs; their answers become Dutch messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from servicekit import tracing
from servicekit.auth import Identity, decode_token
from servicekit.pages import MAX_LIMIT as PAGE_LIMIT
from servicekit.settings import DEFAULT_PORTS, Settings
from services.portal_projection.views import PortalView

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
COOKIE = "actiepunten_sessie"
ACCEPT = "application/pdf,image/jpeg,image/png"
APPOINTMENT_SCOPE = "afspraak"  # the scope of an appointment (afspraak), as the scenario service
DOSSIER_LIST_LIMIT = 200
# Multipart framing around the file: a body this much larger than the limit is refused unread.
MULTIPART_SLACK = 64 * 1024

router = APIRouter(prefix="/app", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")

STATUS_LABELS = {
    "open": "Nog aan te leveren",
    "completed": "Afgerond",
    "requested": "Opgevraagd",
    "uploaded": "Ontvangen",
    "approved": "Goedgekeurd",
    "rejected": "Afgekeurd",
    "expired": "Vervallen",
    "scheduled": "Gepland",
    "executed": "Uitgevoerd",
    "cancelled": "Geannuleerd",
}


def _moment(value: Any) -> str:
    """An ISO moment as a Dutch reader expects it, in Amsterdam time."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%d-%m-%Y")
    return moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M")


templates.env.filters["moment"] = _moment
templates.env.filters["status"] = lambda value: STATUS_LABELS.get(str(value), str(value))


class PageError(Exception):
    """Shown to the user as a page (or, for htmx, a message) with its HTTP status."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


# --- configuration -------------------------------------------------------------------------------


def service_url(service: str) -> str:
    """Base URL of another service: ``ACTIEPUNTEN_<SERVICE>_URL``, else its host and port."""
    import os

    explicit = os.environ.get(f"ACTIEPUNTEN_{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    other = Settings.from_env(service, require_secret=False)
    host = "127.0.0.1" if other.host in {"", "0.0.0.0", "::"} else other.host
    port = other.port or DEFAULT_PORTS[service]
    return f"http://{host}:{port}"


# --- session and CSRF ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    who: Identity
    token: str
    csrf: str


def _csrf_for(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:40]


def _secret(request: Request) -> str:
    return str(request.app.state.settings.jwt_secret)


def _session(request: Request) -> Session:
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


def _check_csrf(request: Request, session: Session, form: FormData | None) -> None:
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


def _visible_dossier(session: Session, dossier_id: str) -> None:
    """SPEC section 4: a client sees only its claim's dossiers; anything else is 'not found'."""
    if session.who.role not in {"client", "adviser"}:
        raise PageError(403, "Geen toegang", "Met deze rol heeft u geen dossierpagina.")
    if not session.who.may_see_dossier(dossier_id):
        raise _not_found(dossier_id)


def _not_found(dossier_id: str) -> PageError:
    return PageError(
        404, "Dossier niet gevonden", f"Het dossier '{dossier_id}' bestaat niet of is niet van u."
    )


def _strict_cookie_withheld(request: Request) -> bool:
    return (
        request.method == "GET"
        and COOKIE not in request.cookies
        and request.headers.get("sec-fetch-site") == "cross-site"
        and request.headers.get("sec-fetch-mode") == "navigate"
    )


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _view(request: Request) -> PortalView:
    return request.app.state.view  # type: ignore[no-any-return]


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


def _render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, **headers: str
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers={**PAGE_HEADERS, **headers}
    )


# --- calls to the other services, with the user's own token --------------------------------------

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


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
            for d in detail
            if isinstance(d, dict)
        )
    return str(detail or "")


async def _every_page(
    session: Session, service: str, path: str, field: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every item of a list API, following its pages (``next_cursor``)."""
    items: list[dict[str, Any]] = []
    query: dict[str, str] = {**(params or {}), "limit": str(PAGE_LIMIT)}
    while True:
        body = (await _call(session, "GET", service, path, params=query)).json()
        if not isinstance(body, dict):
            return items
        items.extend(body.get(field) or [])
        if not body.get("next_cursor"):
            return items
        query["cursor"] = body["next_cursor"]


async def _call(
    session: Session, method: str, service: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call another service as the signed-in user; its refusals become ``PageError``."""
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.request(
                method,
                service_url(service) + path,
                # The user's click continues in the other service (the same trace).
                headers={"Authorization": f"Bearer {session.token}", **tracing.outgoing_headers()},
                **kwargs,
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
    title, message = MESSAGES.get(
        response.status_code,
        ("Tijdelijk niet beschikbaar", "Er ging iets mis bij de dienst. Probeer het zo opnieuw."),
    )
    detail = _detail(response)
    if response.status_code == 422 and detail:
        message = f"{message} ({detail})"
    if response.status_code == 409 and detail:
        message = f"{message} ({detail})"
    status = response.status_code if response.status_code < 500 else 503
    raise PageError(status, title, message)


# --- pages ---------------------------------------------------------------------------------------


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
    session = _session(request)
    _check_csrf(request, session, await request.form())
    response = _render(
        request,
        "message.html",
        {"title": "Afgemeld", "message": "U bent afgemeld.", "session": None},
    )
    response.delete_cookie(COOKIE, path="/app", httponly=True, samesite="strict")
    return response


@router.get("/")
async def dossiers(request: Request) -> Response:
    """The dossiers the signed-in user may see."""
    session = _session(request)
    who = session.who
    rows: list[dict[str, Any]] = []
    if who.role == "client":
        for dossier_id in sorted(who.dossiers):
            counts = await asyncio.to_thread(
                _view(request).dossier_progress, who.tenant, dossier_id
            )
            rows.append({"dossier_id": dossier_id, **counts})
    elif who.role == "adviser":
        rows = await asyncio.to_thread(_view(request).dossiers, who.tenant, DOSSIER_LIST_LIMIT)
    return _render(
        request,
        "dossiers.html",
        {"session": session, "dossiers": rows, "limit": DOSSIER_LIST_LIMIT},
    )


@router.get("/open")
async def open_dossier(request: Request, dossier_id: str = "") -> Response:
    """The adviser's 'open a dossier by id' field."""
    _session(request)
    dossier_id = dossier_id.strip()
    if not dossier_id:
        return RedirectResponse("/app/", status_code=303)
    return RedirectResponse(f"/app/dossiers/{quote(dossier_id, safe='')}", status_code=303)


@router.get("/dossiers/{dossier_id}")
async def dossier(request: Request, dossier_id: str) -> Response:
    session = _session(request)
    _visible_dossier(session, dossier_id)
    if session.who.role == "client":
        context = await _client_context(request, session, dossier_id)
        return _render(request, "client_dossier.html", context)
    context = await _adviser_context(session, dossier_id)
    return _render(request, "adviser_dossier.html", context)


# --- the client portal ---------------------------------------------------------------------------


def _version(data: Any) -> str:
    """A short fingerprint of what a partial shows: polling gets 204 while it is unchanged."""
    raw = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


async def _client_context(
    request: Request, session: Session, dossier_id: str, **extra: Any
) -> dict[str, Any]:
    view, tenant = _view(request), session.who.tenant
    points = await asyncio.to_thread(view.action_points, tenant, dossier_id)
    counts = await asyncio.to_thread(view.dossier_progress, tenant, dossier_id)
    return {
        "session": session,
        "dossier_id": dossier_id,
        "points": points,
        "progress": counts,
        "version": _version([points, counts]),
        "accept": ACCEPT,
        "max_mb": request.app.state.settings.max_upload_bytes // (1024 * 1024),
        **extra,
    }


@router.get("/dossiers/{dossier_id}/action-points")
async def action_points_partial(request: Request, dossier_id: str, v: str = "") -> Response:
    """The polled part of the client page; 204 (htmx leaves the page alone) while unchanged."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    context = await _client_context(request, session, dossier_id)
    if v and v == context["version"]:
        return Response(status_code=204)
    return _render(request, "_action_points.html", context)


# --- the adviser's dossier check ------------------------------------------------------------------


async def _adviser_context(session: Session, dossier_id: str, **extra: Any) -> dict[str, Any]:
    documents = await _every_page(
        session, "dossiercontrole", f"/dossiers/{quote(dossier_id, safe='')}/documents", "documents"
    )
    subjects: dict[str, dict[str, Any]] = {}
    for document in documents:
        subject = document.get("subject") or {}
        subjects.setdefault(json.dumps(subject, sort_keys=True), subject)
    return {
        "session": session,
        "dossier_id": dossier_id,
        "documents": documents,
        "uploaded": [d for d in documents if d.get("file")],
        "subjects": list(subjects.values()),
        "version": _version(documents),
        "accept": ACCEPT,
        "appointment_scope": APPOINTMENT_SCOPE,
        **extra,
    }


def _adviser_only(session: Session) -> None:
    if session.who.role != "adviser":
        raise PageError(403, "Geen toegang", "Alleen een adviseur kan dit doen.")


@router.get("/dossiers/{dossier_id}/documents")
async def documents_partial(request: Request, dossier_id: str, v: str = "") -> Response:
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    context = await _adviser_context(session, dossier_id)
    if v and v == context["version"]:
        return Response(status_code=204)
    return _render(request, "_documents.html", context)


@router.get("/dossiers/{dossier_id}/scenarios")
async def scenarios_partial(
    request: Request, dossier_id: str, subject_type: str = "product", subject_scope: str = ""
) -> Response:
    """The scenarios that fit the chosen subject: only those of its scope."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    scope = APPOINTMENT_SCOPE if subject_type == "appointment" else subject_scope.strip()
    scenarios: list[dict[str, Any]] = []
    if scope:
        scenarios = await _every_page(
            session, "scenario", "/scenarios", "scenarios", params={"scope": scope}
        )
    return _render(request, "_scenarios.html", {"scenarios": scenarios, "scope": scope})


async def _form(request: Request, session: Session) -> FormData:
    try:
        form = await request.form(max_files=2, max_fields=100)
    except Exception:
        raise PageError(
            400, "Ongeldig formulier", "Het formulier kon niet worden gelezen."
        ) from None
    _check_csrf(request, session, form)
    return form


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _after_change(
    request: Request, session: Session, dossier_id: str, notice: str, **extra: Any
) -> Response:
    """htmx gets the refreshed part with a notice; a plain form post goes back to the page."""
    if not _is_htmx(request):
        return RedirectResponse(f"/app/dossiers/{quote(dossier_id, safe='')}", status_code=303)
    if session.who.role == "client":
        context = await _client_context(request, session, dossier_id, notice=notice, **extra)
        return _render(request, "_action_points.html", context)
    context = await _adviser_context(session, dossier_id, notice=notice, **extra)
    return _render(request, "_documents.html", context)


@router.post("/dossiers/{dossier_id}/documents/{document_id}/upload")
async def upload(request: Request, dossier_id: str, document_id: str) -> Response:
    """Upload a file for a document (the client's action point, or the adviser's check)."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    limit = request.app.state.settings.max_upload_bytes
    too_large = PageError(
        413,
        "Bestand te groot",
        f"Het bestand is te groot. Een bestand mag hoogstens {limit // (1024 * 1024)} MB zijn.",
    )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + MULTIPART_SLACK:
        raise too_large
    form = await _form(request, session)
    # The page offers a file picker and a camera input; the one the user chose has a name.
    chosen = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    if not chosen:
        raise PageError(422, "Geen bestand", "Kies eerst een bestand.")
    file = chosen[0]
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise too_large
    if not content:
        raise PageError(422, "Leeg bestand", "Het gekozen bestand is leeg. Kies een ander bestand.")
    await _call(
        session,
        "POST",
        "dossiercontrole",
        f"/documents/{quote(document_id, safe='')}/upload",
        files={"file": (file.filename or "upload", content, file.content_type or "")},
    )
    return await _after_change(
        request,
        session,
        dossier_id,
        "Bedankt, uw bestand is ontvangen.",
        just_uploaded=document_id,
    )


@router.post("/dossiers/{dossier_id}/documents/{document_id}/copy")
async def copy(request: Request, dossier_id: str, document_id: str) -> Response:
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    form = await _form(request, session)
    source = _field(form, "source_document_id")
    if not source:
        raise PageError(422, "Controleer de invoer", "Kies het document om van te kopiëren.")
    await _call(
        session,
        "POST",
        "dossiercontrole",
        f"/documents/{quote(document_id, safe='')}/copy",
        json={"source_document_id": source},
    )
    return await _after_change(request, session, dossier_id, "Het document is gekopieerd.")


REVIEW_NOTICES = {
    "approve": "Het document is goedgekeurd.",
    "reject": "Het document is afgekeurd; de klant ziet de reden en levert het opnieuw aan.",
}


@router.post("/dossiers/{dossier_id}/documents/{document_id}/review")
async def review(request: Request, dossier_id: str, document_id: str) -> Response:
    """The adviser's review: approve, or reject with a reason that the client sees."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    form = await _form(request, session)
    decision, reason = _field(form, "decision"), _field(form, "reason")
    if decision == "reject" and not reason:
        raise PageError(
            422, "Controleer de invoer", "Geef de reden van afkeuren op: de klant ziet die."
        )
    await _call(
        session,
        "POST",
        "dossiercontrole",
        f"/documents/{quote(document_id, safe='')}/review",
        json={"decision": decision, **({"reason": reason} if decision == "reject" else {})},
    )
    notice = REVIEW_NOTICES.get(decision, "Het document is beoordeeld.")
    return await _after_change(request, session, dossier_id, notice)


def _confirmation(
    request: Request, session: Session, dossier_id: str, form: FormData, question: str
) -> Response | None:
    """The question before a removal. htmx asked it in the browser (``hx-confirm``) and sends
    ``confirmed``; a form posted without script gets this page first."""
    if _field(form, "confirmed") == "ja":
        return None
    return _render(
        request,
        "confirm.html",
        {
            "session": session,
            "dossier_id": dossier_id,
            "question": question,
            "action": request.url.path,
        },
    )


@router.post("/dossiers/{dossier_id}/documents/{document_id}/remove")
async def remove_document(request: Request, dossier_id: str, document_id: str) -> Response:
    """Way 2a: the document and its action point go."""
    return await _confirmed_removal(
        request,
        dossier_id,
        "Het document en het actiepunt van de klant verwijderen?",
        f"/documents/{quote(document_id, safe='')}",
        "Het document en zijn actiepunt zijn verwijderd.",
    )


@router.post("/dossiers/{dossier_id}/action-points/{action_point_id}/remove")
async def remove_action_point(request: Request, dossier_id: str, action_point_id: str) -> Response:
    """Way 2b: only the action point goes; the document stays in the dossier check."""
    return await _confirmed_removal(
        request,
        dossier_id,
        "Alleen het actiepunt bij de klant verwijderen? Het document blijft staan.",
        f"/action-points/{quote(action_point_id, safe='')}",
        "Het actiepunt is verwijderd; het document blijft staan.",
    )


async def _confirmed_removal(
    request: Request, dossier_id: str, question: str, path: str, done: str
) -> Response:
    """An adviser's removal in the dossier check: asked first, then DELETE ``path``."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    form = await _form(request, session)
    if (asked := _confirmation(request, session, dossier_id, form, question)) is not None:
        return asked
    await _call(session, "DELETE", "dossiercontrole", path)
    return await _after_change(request, session, dossier_id, done)


@router.post("/dossiers/{dossier_id}/scenario-runs")
async def start_scenarios(request: Request, dossier_id: str) -> Response:
    """Start one or more scenarios on a product or appointment: now, on a date, or at a time."""
    session = _session(request)
    _visible_dossier(session, dossier_id)
    _adviser_only(session)
    form = await _form(request, session)
    subject_type = _field(form, "subject_type") or "product"
    scope = APPOINTMENT_SCOPE if subject_type == "appointment" else _field(form, "subject_scope")
    body: dict[str, Any] = {
        "dossier_id": dossier_id,
        "subject": {"type": subject_type, "id": _field(form, "subject_id"), "scope": scope},
        "scenario_ids": [v for v in form.getlist("scenario_ids") if isinstance(v, str) and v],
    }
    if not body["scenario_ids"]:
        raise PageError(422, "Controleer de invoer", "Kies ten minste één scenario.")
    when = _field(form, "when") or "now"
    if when in {"date", "time"}:
        if not _field(form, "execute_on"):
            raise PageError(422, "Controleer de invoer", "Kies de datum van uitvoering.")
        body["execute_on"] = _field(form, "execute_on")
    if when == "time":
        if not _field(form, "execute_at_time"):
            raise PageError(422, "Controleer de invoer", "Kies het tijdstip van uitvoering.")
        body["execute_at_time"] = _field(form, "execute_at_time")
    response = await _call(session, "POST", "scenario", "/scenario-runs", json=body)
    runs = response.json().get("runs", [])
    names = ", ".join(
        f"{run.get('scenario_name') or 'scenario'} ({_moment(run.get('execute_at'))})"
        for run in runs
    )
    return await _after_change(request, session, dossier_id, f"Gestart: {names}.", runs=runs)


@router.get("/{path:path}")
async def unknown_page(request: Request, path: str) -> Response:
    """Any other address under /app: a page, not the API's JSON."""
    raise PageError(404, "Pagina niet gevonden", "Deze pagina bestaat niet.")


# --- wiring --------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the portal service's app."""
    # The static files first: the pages' catch-all would answer for them otherwise.
    app.mount("/app/static", StaticFiles(directory=HERE / "static"), name="web-static")
    app.include_router(router)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, error: PageError) -> Response:
        if error.status == 401 and _strict_cookie_withheld(request):
            # A link on another site (the sign-in link in an e-mail) started this navigation,
            # so the browser kept the SameSite=Strict cookie back. Navigating again from this
            # origin sends it; without a session that ends on the 401 page as usual.
            return _render(request, "continue.html", {"target": request.url.path, "session": None})
        context = {
            "title": error.title,
            "message": error.message,
            "status": error.status,
            "session": None,
        }
        if _is_htmx(request):
            # Shown in the page's message area; the rest of the page stays as it was.
            return _render(
                request,
                "_message.html",
                {**context, "error": True},
                status=error.status,
                **{"HX-Retarget": "#meldingen", "HX-Reswap": "innerHTML"},
            )
        return _render(request, "message.html", {**context, "error": True}, status=error.status)
