"""The dossier-check service's HTTP API (SPEC sections 4, 6 and 7)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, UploadFile
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from servicekit.pages import Page, moment, paginate, paging
from services.dossiercontrole_service.application import (
    ChooseProgressCounts,
    ClaimNotApplicable,
    ConfigureDocumentType,
    CopyDocument,
    DossierChecks,
    RemindNow,
    RemoveActionPoint,
    RemoveDocument,
    ReviewDocument,
    SetReminderSchedule,
    UploadDocument,
)
from services.dossiercontrole_service.blobstore import Blobs
from services.dossiercontrole_service.domainmodel import (
    ActionPoint,
    ActionPointStatus,
    Document,
    DocumentCommand,
    DocumentStatus,
    DossierCheck,
    ProgressCounts,
    StoredFile,
)
from services.dossiercontrole_service.domainmodel.claims import MAX_NOTE
from services.dossiercontrole_service.files import MAX_VERSION, FilePartOut
from services.dossiercontrole_service.uploads import read_files
from shared.events.contracts import DocumentSource, Name, Subject
from shared.events.durations import Duration, IsoDuration

router = APIRouter(responses=AUTHENTICATED)
# Who may do what (SPEC sections 4 and 7): the admin keeps the document-type settings; the
# dossier check itself, with the client's action points, is the adviser's work; a client may
# only upload where an action point asks for it, and read a document's versions and files, and
# only for the dossiers in its token.
Admin = Annotated[Identity, Depends(require("admin"))]
Staff = Annotated[Identity, Depends(require("admin", "adviser"))]
Adviser = Annotated[Identity, Depends(require("adviser"))]
AdviserOrClient = Annotated[Identity, Depends(require("adviser", "client"))]


class DocumentTypeIn(BaseModel):
    """A type's settings, replaced whole (an omitted setting takes its default)."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    creates_action_point: StrictBool
    valid_for: IsoDuration | None = None
    """How long a delivered document stays valid, e.g. ``P3M``; null: for good."""
    rerequest_on_expiry: StrictBool = False
    """Request the document again when a delivered one expires."""
    due_in: IsoDuration | None = None
    """The default due time of a request of this type, e.g. ``P14D``."""


class DocumentTypeOut(BaseModel):
    code: str
    name: str
    creates_action_point: bool
    valid_for: str | None = None
    rerequest_on_expiry: bool = False
    due_in: str | None = None


class DocumentTypeList(BaseModel):
    document_types: list[DocumentTypeOut]
    next_cursor: str | None = None


# A removed action point is not shown: the API knows the open and the completed ones.
ShownActionPointStatus = Literal[ActionPointStatus.OPEN, ActionPointStatus.COMPLETED]


class ActionPointRef(BaseModel):
    action_point_id: UUID
    status: ShownActionPointStatus


class FileOut(BaseModel):
    version: int
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_at: datetime
    uploaded_by: str
    copied_from: UUID | None = None
    files: list[FilePartOut] = Field(
        default_factory=list, description="Every file of the version, part 1 first."
    )


class DocumentOut(BaseModel):
    document_id: UUID
    dossier_id: str
    subject: Subject
    document_type: str
    title: str
    period: str | None = Field(
        None,
        description="What it covers in time (`2024`); with subject, its person and type "
        "it tells the document apart (SPEC section 9).",
    )
    instructions: str | None = Field(None, description="The adviser's note to the client.")
    status: DocumentStatus
    actions: list[DocumentCommand] = Field(
        description="What the document's status allows now: `upload` (an upload or a copy), "
        "`remove` (the document and its action point), `approve` and `reject` (the review), "
        '`waive` (a "not applicable" claim accepted); other moves are refused with 409.'
    )
    action_point: ActionPointRef | None
    created_at: datetime
    file: FileOut | None
    versions: int
    rejection_reason: str | None = Field(
        None, description="While `rejected`: the adviser's reason, shown to the client."
    )
    due_at: datetime | None = Field(
        default=None, description="When the client should have delivered it (or null)."
    )
    overdue: bool = Field(
        default=False,
        description="Its action point is open and its due date passed (set at that moment).",
    )
    valid_until: datetime | None = Field(
        None,
        description="The end of the latest delivery's validity window (its moment plus the "
        "type's `valid_for` then); null before a delivery or for a type without one.",
    )
    source: DocumentSource | None = Field(
        None,
        description="Where the request came from; `expired`: requested again because the "
        "document it replaces expired. Null for documents stored before it was recorded.",
    )
    replaces_document_id: UUID | None = Field(
        None, description="The expired document this one requests again."
    )
    note: str | None = Field(
        None, description='While claimed "not applicable", and once waived: the note why.'
    )


class DocumentPage(BaseModel):
    dossier_id: str
    documents: list[DocumentOut]
    next_cursor: str | None = None


class ActionPointOut(BaseModel):
    action_point_id: UUID
    document_id: UUID
    document_type: str
    title: str
    period: str | None = None
    instructions: str | None = None
    subject: Subject
    status: ShownActionPointStatus
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None = None
    overdue: bool = False


class ActionPointList(BaseModel):
    dossier_id: str
    action_points: list[ActionPointOut]
    next_cursor: str | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "reject", "waive"] = Field(
        description="`approve` or `reject` a delivery; of a `not_applicable_claimed` document: "
        "`waive` (accept the claim) or `reject` (refuse it, with a reason)."
    )
    reason: str | None = Field(
        None,
        max_length=2000,
        # One line of text for the client: no control characters (PostgreSQL cannot store NUL).
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*$",
        description="Required (not blank) to reject: the client sees it on the reopened action "
        "point.",
    )
    version: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_VERSION,
        description='The version the adviser reviewed. When a newer one arrived since: 409 ("a '
        'newer version arrived") and nothing changes; absent: the latest, whichever it is.',
    )


class PortalSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    progress_counts: ProgressCounts = Field(
        description="What the client's progress counts as done: `received` (a delivered "
        "document, the default) or `approved` (only what the adviser approved)."
    )


class PortalSettingsOut(BaseModel):
    progress_counts: ProgressCounts


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_document_id: UUID


def _app(request: Request) -> DossierChecks:
    return request.app.state.application  # type: ignore[no-any-return]


def _shown(point: ActionPoint) -> ShownActionPointStatus:
    status = point.status
    assert status is not ActionPointStatus.REMOVED, "a removed action point is not shown"
    return status


def _document_out(check: DossierCheck, document: Document) -> DocumentOut:
    point = document.current_action_point
    files = document.files
    return DocumentOut(
        document_id=document.document_id,
        dossier_id=check.dossier_id,
        subject=Subject.model_validate(document.subject.as_dict()),
        document_type=document.document_type,
        title=document.title,
        period=document.period,
        instructions=document.instructions,
        status=document.status,
        actions=document.allowed_commands(),
        action_point=(
            ActionPointRef(action_point_id=point.action_point_id, status=_shown(point))
            if point
            else None
        ),
        created_at=document.created_at,
        file=_file_out(files[-1]) if files else None,
        versions=len(files),
        rejection_reason=document.rejection_reason,
        valid_until=document.valid_until,
        source=document.source,  # type: ignore[arg-type]
        replaces_document_id=document.replaces_document_id,
        note=document.note,
        due_at=point.due_at if point and point.due_at else document.due_at,
        overdue=bool(point and point.overdue),
    )


def _file_out(stored: StoredFile) -> FileOut:
    parts = [FilePartOut(**part.metadata()) for part in stored.parts]
    return FileOut.model_validate(stored, from_attributes=True).model_copy(update={"files": parts})


def _action_point_out(document: Document, point: ActionPoint) -> ActionPointOut:
    return ActionPointOut(
        action_point_id=point.action_point_id,
        document_id=document.document_id,
        document_type=document.document_type,
        title=document.title,
        period=document.period,
        instructions=document.instructions,
        subject=Subject.model_validate(document.subject.as_dict()),
        status=_shown(point),
        created_at=point.created_at,
        completed_at=point.completed_at,
        due_at=point.due_at,
        overdue=point.overdue,
    )


@router.put(
    "/document-types/{code}",
    response_model=DocumentTypeOut,
    tags=["document types"],
    responses=errors(400, 409, 413),
)
async def configure_document_type(
    code: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,99}$")],
    body: DocumentTypeIn,
    who: Admin,
    request: Request,
) -> DocumentTypeOut:
    settings = body.model_dump(exclude={"name", "creates_action_point"})
    command = ConfigureDocumentType(
        who.tenant, code, body.name, body.creates_action_point, who.actor, **settings
    )
    await asyncio.to_thread(_app(request).configure_document_type, command)
    return DocumentTypeOut(code=code, **body.model_dump())


@router.get("/document-types", response_model=DocumentTypeList, tags=["document types"])
async def list_document_types(
    who: Staff, request: Request, page: Annotated[Page, Depends(paging("document-types", 1))]
) -> DocumentTypeList:
    """The office's document-type settings by code, a page at a time."""
    types = await asyncio.to_thread(_app(request).get_document_types, who.tenant)
    chosen, next_cursor = paginate(types, lambda t: (t.code,), page)
    return DocumentTypeList(
        document_types=[DocumentTypeOut.model_validate(t.as_dict()) for t in chosen],
        next_cursor=next_cursor,
    )


@router.get("/dossiers/{dossier_id}/documents", response_model=DocumentPage, tags=["dossier check"])
async def dossier_check(
    dossier_id: str,
    who: Adviser,
    request: Request,
    page: Annotated[Page, Depends(paging("documents", 2))],
) -> DocumentPage:
    """The dossier check (dossiercontrole): every requested document with its state, oldest
    first, a page at a time."""
    check = await asyncio.to_thread(_app(request).get_dossier_check, who.tenant, dossier_id)
    chosen, next_cursor = paginate(
        check.current_documents(), lambda d: (moment(d.created_at), str(d.document_id)), page
    )
    return DocumentPage(
        dossier_id=dossier_id,
        documents=[_document_out(check, d) for d in chosen],
        next_cursor=next_cursor,
    )


@router.get(
    "/dossiers/{dossier_id}/action-points", response_model=ActionPointList, tags=["action points"]
)
async def action_points(
    dossier_id: str,
    who: Adviser,
    request: Request,
    page: Annotated[Page, Depends(paging("action-points", 2))],
) -> ActionPointList:
    """ "Actiepunten voor klant": the client's open and completed action points of a dossier,
    oldest first, a page at a time."""
    check = await asyncio.to_thread(_app(request).get_dossier_check, who.tenant, dossier_id)
    points = [
        _action_point_out(document, point)
        for document in check.current_documents()
        if (point := document.current_action_point) is not None
    ]
    chosen, next_cursor = paginate(
        points, lambda p: (moment(p.created_at), str(p.action_point_id)), page
    )
    return ActionPointList(dossier_id=dossier_id, action_points=chosen, next_cursor=next_cursor)


@router.post(
    "/documents/{document_id}/upload",
    response_model=DocumentOut,
    tags=["dossier check"],
    responses=errors(400, 404, 409, 413, 415),
)
async def upload(
    document_id: UUID,
    file: list[UploadFile],
    who: AdviserOrClient,
    request: Request,
    append: Annotated[
        Literal["true", "false"],
        Query(
            description="`true`: add the files to the latest version while it is not reviewed "
            "(409 once it is); a document without a version gets its first."
        ),
    ] = "false",
) -> DocumentOut:
    """Upload one file, or several as one version (several `file` parts: both sides of an ID
    card); the adviser, or the dossier's client only where an action point asks for it (else
    404). Completes the open action point. A password-protected or unreadable PDF is a 422."""
    settings = request.app.state.settings
    files = await read_files(file, settings.max_upload_bytes)
    app = _app(request)
    first, *more = [metadata for metadata, _ in files]
    command = UploadDocument(
        who.tenant,
        document_id,
        first,
        who.actor,
        datetime.now(UTC),
        who.may_see_dossier,
        settings.max_dossier_upload_bytes,
        by_client=who.role == "client",
        more_files=tuple(more),
        append=append == "true",
        most=settings.max_upload_bytes,
    )
    # Check existence (a removed document too), access and room before writing bytes to disk.
    await asyncio.to_thread(app.check_upload, command)
    blobs: Blobs = request.app.state.blobs
    stored = [
        {"sha256": await asyncio.to_thread(blobs.put, content), **metadata}
        for metadata, content in files
    ]
    command = replace(command, file=stored[0], more_files=tuple(stored[1:]))
    check = await asyncio.to_thread(app.upload, command)
    return _document_out(check, check.document(document_id))


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(
        min_length=1,
        max_length=MAX_NOTE,
        description="Why the document does not apply (required, not blank): the adviser reads "
        "it before waiving the document or refusing the claim.",
    )


@router.post(
    "/action-points/{action_point_id}/not-applicable",
    response_model=DocumentOut,
    tags=["action points"],
    responses=errors(400, 404, 409, 413),
)
async def claim_not_applicable(
    action_point_id: UUID, body: ClaimIn, who: AdviserOrClient, request: Request
) -> DocumentOut:
    """ "Niet van toepassing": the client (or the adviser) answers an open action point with a
    note instead of a file; the document becomes `not_applicable_claimed` (its action point
    completed, no more reminders) until the adviser waives it or refuses the claim through
    the review. 409 when the action point is not open."""
    command = ClaimNotApplicable(
        who.tenant, action_point_id, body.note, who.actor, datetime.now(UTC), who.may_see_dossier
    )
    check = await asyncio.to_thread(_app(request).claim_not_applicable, command)
    document = check.document_of_action_point(action_point_id)
    return _document_out(check, document)


@router.post(
    "/documents/{document_id}/copy",
    response_model=DocumentOut,
    tags=["dossier check"],
    responses=errors(400, 404, 409, 413),
)
async def copy(document_id: UUID, body: CopyIn, who: Adviser, request: Request) -> DocumentOut:
    """The copy icon: use the file of another uploaded document of the same dossier."""
    command = CopyDocument(
        who.tenant, document_id, body.source_document_id, who.actor, datetime.now(UTC)
    )
    check = await asyncio.to_thread(_app(request).copy, command)
    return _document_out(check, check.document(document_id))


@router.delete(
    "/documents/{document_id}", status_code=204, tags=["dossier check"], responses=errors(404, 409)
)
async def remove_document(document_id: UUID, who: Adviser, request: Request) -> Response:
    """The cross in the dossier check: the document and its action point go (409 after upload)."""
    command = RemoveDocument(who.tenant, document_id, who.actor, datetime.now(UTC))
    await asyncio.to_thread(_app(request).remove_document, command)
    return Response(status_code=204)


@router.delete(
    "/action-points/{action_point_id}",
    status_code=204,
    tags=["action points"],
    responses=errors(404, 409),
)
async def remove_action_point(action_point_id: UUID, who: Adviser, request: Request) -> Response:
    """Remove only the action point: it leaves the portal, the document stays in the check."""
    command = RemoveActionPoint(who.tenant, action_point_id, who.actor, datetime.now(UTC))
    await asyncio.to_thread(_app(request).remove_action_point, command)
    return Response(status_code=204)


@router.post(
    "/documents/{document_id}/review",
    response_model=DocumentOut,
    tags=["dossier check"],
    responses=errors(400, 404, 409, 413),
)
async def review(document_id: UUID, body: ReviewIn, who: Adviser, request: Request) -> DocumentOut:
    """The adviser's review of the delivered file: approve it, or reject it with a reason, which
    reopens the client's action point (409 when nothing was delivered or the status does not
    allow it)."""
    command = ReviewDocument(
        who.tenant,
        document_id,
        body.decision,
        body.reason,
        who.actor,
        datetime.now(UTC),
        body.version,
    )
    check = await asyncio.to_thread(_app(request).review, command)
    return _document_out(check, check.document(document_id))


@router.get("/portal-settings", response_model=PortalSettingsOut, tags=["portal settings"])
async def portal_settings(who: Staff, request: Request) -> PortalSettingsOut:
    """The office's client-portal settings."""
    counts = await asyncio.to_thread(_app(request).get_progress_counts, who.tenant)
    return PortalSettingsOut(progress_counts=counts)


@router.put(
    "/portal-settings",
    response_model=PortalSettingsOut,
    tags=["portal settings"],
    responses=errors(400, 409, 413),
)
async def choose_portal_settings(
    body: PortalSettingsIn, who: Admin, request: Request
) -> PortalSettingsOut:
    """The office chooses what the client's progress counts (PortalSettingsChanged)."""
    command = ChooseProgressCounts(who.tenant, body.progress_counts, who.actor)
    await asyncio.to_thread(_app(request).choose_progress_counts, command)
    return PortalSettingsOut(progress_counts=body.progress_counts)


# --- due dates: reminders (SPEC section 6) ----------------------------------------------------


def _positive(text: str | None) -> str | None:
    if text is not None:
        duration = Duration.parse(text)
        if duration.months <= 0 and duration.span <= timedelta(0):
            raise ValueError("every_after_due must be longer than zero (or null: no repeats)")
    return text


class ReminderScheduleBody(BaseModel):
    """An office's reminder schedule, replaced whole. Default (until the admin sets one):
    ``{"before_due": ["P3D"], "on_due": true, "every_after_due": "P7D", "max_reminders": 5}``."""

    model_config = ConfigDict(extra="forbid")
    before_due: list[IsoDuration] = Field(
        max_length=10, description="A reminder this long before the due date, for each."
    )
    on_due: StrictBool = Field(description="A reminder at the due date.")
    every_after_due: Annotated[IsoDuration | None, AfterValidator(_positive)] = Field(
        description="Then one every so long until done (null: none after the due date)."
    )
    max_reminders: StrictInt = Field(
        ge=0, le=100, description="At most this many scheduled reminders per action point."
    )


@router.get("/reminder-schedule", response_model=ReminderScheduleBody, tags=["reminders"])
async def get_reminder_schedule(who: Staff, request: Request) -> ReminderScheduleBody:
    """The office's reminder schedule for open action points with a due date."""
    plan = await asyncio.to_thread(_app(request).get_reminder_schedule, who.tenant)
    return ReminderScheduleBody.model_validate(plan.as_dict())


@router.put(
    "/reminder-schedule",
    response_model=ReminderScheduleBody,
    tags=["reminders"],
    responses=errors(400, 409, 413),
)
async def set_reminder_schedule(
    body: ReminderScheduleBody, who: Admin, request: Request
) -> ReminderScheduleBody:
    """Set the office's reminder schedule (admin); it applies to reminders not sent yet."""
    command = SetReminderSchedule(who.tenant, **body.model_dump(), by=who.actor)
    plan = await asyncio.to_thread(_app(request).set_reminder_schedule, command)
    return ReminderScheduleBody.model_validate(plan.as_dict())


@router.post(
    "/action-points/{action_point_id}/remind",
    status_code=202,
    response_class=Response,
    tags=["reminders"],
    responses={**errors(404, 409), 202: {"description": "The reminder is on its way."}},
)
async def remind_now(action_point_id: UUID, who: Adviser, request: Request) -> Response:
    """Remind the client of an open action point now (one ``ActionPointReminderDue``, with the
    next reminder number); 409 when the action point is not open."""
    command = RemindNow(who.tenant, action_point_id, who.actor, datetime.now(UTC))
    await asyncio.to_thread(_app(request).remind_now, command)
    return Response(status_code=202)
