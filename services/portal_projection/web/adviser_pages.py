"""The adviser's dossier check (dossiercontrole): the dossier's documents and the part of the page
that polls them, the scenarios that fit a subject, and what the adviser does to a document: copy,
review, remove (a document, or only its action point) and start scenarios.

Everything here goes to the dossier-check and scenario APIs as the adviser (``backends``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from services.portal_projection.web.backends import call, every_page
from services.portal_projection.web.labels import moment
from services.portal_projection.web.pages import (
    ACCEPT,
    PageError,
    dossier_page,
    is_htmx,
    pages_router,
    render,
    version,
)
from services.portal_projection.web.session import (
    Session,
    adviser_only,
    posted_form,
    signed_in,
    visible_dossier,
)
from shared.events.contracts import APPOINTMENT_SCOPE, scope_of

router = pages_router()


async def adviser_context(session: Session, dossier_id: str, **extra: Any) -> dict[str, Any]:
    documents = await every_page(
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
        "version": version(documents),
        "accept": ACCEPT,
        "appointment_scope": APPOINTMENT_SCOPE,
        **extra,
    }


async def documents(request: Request, session: Session, dossier_id: str, **extra: Any) -> Response:
    """The dossier's documents as htmx swaps them in after a change (``extra``: a notice)."""
    context = await adviser_context(session, dossier_id, **extra)
    return render(request, "_documents.html", context)


async def _adviser_form(request: Request, dossier_id: str) -> tuple[Session, FormData]:
    """The adviser's session and posted form for a change to one of the office's dossiers."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    adviser_only(session)
    return session, await posted_form(request, session)


async def _after_change(
    request: Request, session: Session, dossier_id: str, notice: str, **extra: Any
) -> Response:
    """htmx gets the refreshed documents with a notice; a plain form post goes back to the page."""
    if not is_htmx(request):
        return dossier_page(dossier_id)
    return await documents(request, session, dossier_id, notice=notice, **extra)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.get("/open")
async def open_dossier(request: Request, dossier_id: str = "") -> Response:
    """The adviser's 'open a dossier by id' field."""
    await signed_in(request)
    dossier_id = dossier_id.strip()
    if not dossier_id:
        return RedirectResponse("/app/", status_code=303)
    return dossier_page(dossier_id)


@router.get("/dossiers/{dossier_id}/documents")
async def documents_partial(request: Request, dossier_id: str, v: str = "") -> Response:
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    adviser_only(session)
    context = await adviser_context(session, dossier_id)
    if v and v == context["version"]:
        return Response(status_code=204)
    return render(request, "_documents.html", context)


@router.get("/dossiers/{dossier_id}/scenarios")
async def scenarios_partial(
    request: Request, dossier_id: str, subject_type: str = "product", subject_scope: str = ""
) -> Response:
    """The scenarios that fit the chosen subject: only those of its scope."""
    session = await signed_in(request)
    visible_dossier(session, dossier_id)
    adviser_only(session)
    scope = scope_of(subject_type, subject_scope.strip())
    scenarios: list[dict[str, Any]] = []
    if scope:
        scenarios = await every_page(
            session, "scenario", "/scenarios", "scenarios", params={"scope": scope}
        )
    return render(request, "_scenarios.html", {"scenarios": scenarios, "scope": scope})


@router.post("/dossiers/{dossier_id}/documents/{document_id}/copy")
async def copy(request: Request, dossier_id: str, document_id: str) -> Response:
    session, form = await _adviser_form(request, dossier_id)
    source = _field(form, "source_document_id")
    if not source:
        raise PageError(422, "Controleer de invoer", "Kies het document om van te kopiëren.")
    await call(
        session,
        "POST",
        "dossiercontrole",
        f"/documents/{quote(document_id, safe='')}/copy",
        json={"source_document_id": source},
    )
    return await _after_change(request, session, dossier_id, "Het document is gekopieerd.")


NEWER_THAN_SHOWN = (
    "Het document is intussen gewijzigd, bijvoorbeeld doordat de klant een nieuwere versie "
    "aanleverde. Bekijk de nieuwste versie en beoordeel opnieuw."
)
REVIEW_NOTICES = {
    "approve": "Het document is goedgekeurd.",
    "reject": "Het document is afgekeurd; de klant ziet de reden en levert het opnieuw aan.",
    "waive": "Het document is niet van toepassing; het actiepunt van de klant is afgerond.",
}


@router.post("/dossiers/{dossier_id}/documents/{document_id}/review")
async def review(request: Request, dossier_id: str, document_id: str) -> Response:
    """The adviser's review: approve, or reject with a reason that the client sees."""
    session, form = await _adviser_form(request, dossier_id)
    decision, reason = _field(form, "decision"), _field(form, "reason")
    if decision == "reject" and not reason:
        raise PageError(
            422, "Controleer de invoer", "Geef de reden van afkeuren op: de klant ziet die."
        )
    body: dict[str, Any] = {"decision": decision}
    if decision == "reject":
        body["reason"] = reason
    shown = _field(form, "version")
    if shown.isdigit() and int(shown) > 0:
        body["version"] = int(shown)  # the version the adviser saw: a newer one is a 409
    try:
        await call(
            session,
            "POST",
            "dossiercontrole",
            f"/documents/{quote(document_id, safe='')}/review",
            json=body,
        )
    except PageError as refused:
        if refused.status == 409:
            raise PageError(409, "Intussen gewijzigd", NEWER_THAN_SHOWN) from None
        raise
    notice = REVIEW_NOTICES.get(decision, "Het document is beoordeeld.")
    return await _after_change(request, session, dossier_id, notice)


def _confirmation(
    request: Request, session: Session, dossier_id: str, form: FormData, question: str
) -> Response | None:
    """The question before a removal. htmx asked it in the browser (``hx-confirm``) and sends
    ``confirmed``; a form posted without script gets this page first."""
    if _field(form, "confirmed") == "ja":
        return None
    return render(
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
    session, form = await _adviser_form(request, dossier_id)
    if (asked := _confirmation(request, session, dossier_id, form, question)) is not None:
        return asked
    await call(session, "DELETE", "dossiercontrole", path)
    return await _after_change(request, session, dossier_id, done)


@router.post("/dossiers/{dossier_id}/scenario-runs")
async def start_scenarios(request: Request, dossier_id: str) -> Response:
    """Start one or more scenarios on a product or appointment: now, on a date, or at a time."""
    session, form = await _adviser_form(request, dossier_id)
    subject_type = _field(form, "subject_type") or "product"
    scope = scope_of(subject_type, _field(form, "subject_scope"))
    body: dict[str, Any] = {
        "dossier_id": dossier_id,
        "subject": {"type": subject_type, "id": _field(form, "subject_id"), "scope": scope},
        "scenario_ids": [v for v in form.getlist("scenario_ids") if isinstance(v, str) and v],
    }
    if not body["scenario_ids"]:
        raise PageError(422, "Controleer de invoer", "Kies ten minste één scenario.")
    body.update(_execution(form))
    response = await call(session, "POST", "scenario", "/scenario-runs", json=body)
    runs = response.json().get("runs", [])
    names = ", ".join(
        f"{run.get('scenario_name') or 'scenario'} ({moment(run.get('execute_at'))})"
        for run in runs
    )
    return await _after_change(request, session, dossier_id, f"Gestart: {names}.", runs=runs)


def _execution(form: FormData) -> dict[str, str]:
    """When the runs execute, as the scenario API takes it: now (nothing), on a date, or at a
    time of that date."""
    when = _field(form, "when") or "now"
    moment_fields: dict[str, str] = {}
    if when in {"date", "time"}:
        if not _field(form, "execute_on"):
            raise PageError(422, "Controleer de invoer", "Kies de datum van uitvoering.")
        moment_fields["execute_on"] = _field(form, "execute_on")
    if when == "time":
        if not _field(form, "execute_at_time"):
            raise PageError(422, "Controleer de invoer", "Kies het tijdstip van uitvoering.")
        moment_fields["execute_at_time"] = _field(form, "execute_at_time")
    return moment_fields
