"""The dossier-check service's HTTP API (SPEC section 4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, StrictBool

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from servicekit.pages import Page, moment, paginate, paging
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.blobstore import (
    Blobs,
    UnsupportedFileType,
    safe_filename,
    sniff_content_type,
)
from services.dossiercontrole_service.domainmodel import (
    ActionPointNotFound,
    DocumentHasUpload,
    DocumentNotFound,
    DossierCheck,
    NothingUploaded,
    UploadQuotaExceeded,
)
from shared.events.contracts import Name, Subject

router = APIRouter(responses=AUTHENTICATED)
# Who may do what (SPEC section 4): the admin keeps the document-type settings; the dossier
# check itself, with the client's action points, is the adviser's work; a client may only
# upload, and only for the dossiers in its token.
Admin = Annotated[Identity, Depends(require("admin"))]
Staff = Annotated[Identity, Depends(require("admin", "adviser"))]
Adviser = Annotated[Identity, Depends(require("adviser"))]
Uploader = Annotated[Identity, Depends(require("adviser", "client"))]


class DocumentTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    creates_action_point: StrictBool


class DocumentTypeOut(BaseModel):
    code: str
    name: str
    creates_action_point: bool


class DocumentTypeList(BaseModel):
    document_types: list[DocumentTypeOut]
    next_cursor: str | None = None


class ActionPointRef(BaseModel):
    action_point_id: UUID
    status: Literal["open", "completed"]


class FileOut(BaseModel):
    version: int
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_at: datetime
    uploaded_by: str
    copied_from: UUID | None = None


class DocumentOut(BaseModel):
    document_id: UUID
    dossier_id: str
    subject: Subject
    document_type: str
    title: str
    status: Literal["requested", "uploaded"]
    action_point: ActionPointRef | None
    created_at: datetime
    file: FileOut | None
    versions: int


class DocumentList(BaseModel):
    dossier_id: str
    documents: list[DocumentOut]
    next_cursor: str | None = None


class ActionPointOut(BaseModel):
    action_point_id: UUID
    document_id: UUID
    document_type: str
    title: str
    subject: Subject
    status: Literal["open", "completed"]
    created_at: datetime
    completed_at: datetime | None


class ActionPointList(BaseModel):
    dossier_id: str
    action_points: list[ActionPointOut]
    next_cursor: str | None = None


class CopyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_document_id: UUID


def _app(request: Request) -> DossierChecks:
    return request.app.state.application  # type: ignore[no-any-return]


def _document_out(check: DossierCheck, document: dict[str, Any]) -> DocumentOut:
    point = document["action_point"]
    files = document["files"]
    return DocumentOut(
        document_id=document["document_id"],
        dossier_id=check.dossier_id,
        subject=document["subject"],
        document_type=document["document_type"],
        title=document["title"],
        status=document["status"],
        action_point=(
            ActionPointRef(action_point_id=point["action_point_id"], status=point["status"])
            if point and point["status"] != "removed"
            else None
        ),
        created_at=document["created_at"],
        file=FileOut.model_validate(files[-1]) if files else None,
        versions=len(files),
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
    await asyncio.to_thread(
        _app(request).configure_document_type,
        who.tenant,
        code,
        body.name,
        body.creates_action_point,
        who.sub,
    )
    return DocumentTypeOut(
        code=code, name=body.name, creates_action_point=body.creates_action_point
    )


@router.get("/document-types", response_model=DocumentTypeList, tags=["document types"])
async def list_document_types(
    who: Staff, request: Request, page: Annotated[Page, Depends(paging("document-types", 1))]
) -> DocumentTypeList:
    """The office's document-type settings by code, a page at a time."""
    types = await asyncio.to_thread(_app(request).get_document_types, who.tenant)
    chosen, next_cursor = paginate(types, lambda t: (t["code"],), page)
    return DocumentTypeList(
        document_types=[DocumentTypeOut.model_validate(t) for t in chosen], next_cursor=next_cursor
    )


@router.get("/dossiers/{dossier_id}/documents", response_model=DocumentList, tags=["dossier check"])
async def dossier_check(
    dossier_id: str,
    who: Adviser,
    request: Request,
    page: Annotated[Page, Depends(paging("documents", 2))],
) -> DocumentList:
    """The dossier check (dossiercontrole): every requested document with its state, oldest
    first, a page at a time."""
    check = await asyncio.to_thread(_app(request).get_dossier_check, who.tenant, dossier_id)
    chosen, next_cursor = paginate(
        check.current_documents(), lambda d: (moment(d["created_at"]), d["document_id"]), page
    )
    return DocumentList(
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
    points = []
    for document in check.current_documents():
        point = document["action_point"]
        if point and point["status"] != "removed":
            points.append(
                ActionPointOut(
                    action_point_id=point["action_point_id"],
                    document_id=document["document_id"],
                    document_type=document["document_type"],
                    title=document["title"],
                    subject=document["subject"],
                    status=point["status"],
                    created_at=point["created_at"],
                    completed_at=point["completed_at"],
                )
            )
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
    document_id: UUID, file: UploadFile, who: Uploader, request: Request
) -> DocumentOut:
    """Upload a file (adviser, or the dossier's client); completes the open action point."""
    limit = request.app.state.settings.max_upload_bytes
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise HTTPException(413, f"file larger than the limit of {limit} bytes")
    if not content:
        raise HTTPException(422, "the file is empty")
    try:
        content_type = sniff_content_type(content[:16])
    except UnsupportedFileType as error:
        raise HTTPException(415, str(error)) from None
    app = _app(request)
    # Check existence (a removed document too) and access before writing bytes to disk.
    check = await asyncio.to_thread(app.locate, who.tenant, document_id)
    if check is None or not who.may_see_dossier(check.dossier_id):
        raise HTTPException(404, f"document {document_id} not found")
    try:
        check.document(document_id)
    except DocumentNotFound as error:
        raise HTTPException(404, str(error)) from None
    quota = request.app.state.settings.max_dossier_upload_bytes
    used = check.uploaded_bytes()
    if used + len(content) > quota:  # checked again, exactly, when the upload is saved
        raise HTTPException(413, _over_quota(check.dossier_id, used, len(content), quota))
    blobs: Blobs = request.app.state.blobs
    sha256 = await asyncio.to_thread(blobs.put, content)
    metadata = {
        "sha256": sha256,
        "size": len(content),
        "content_type": content_type,
        "filename": safe_filename(file.filename),
    }
    try:
        check = await asyncio.to_thread(
            app.upload,
            who.tenant,
            document_id,
            metadata,
            f"{who.role}:{who.sub}",
            datetime.now(UTC),
            who.may_see_dossier,
            quota,
        )
    except DocumentNotFound as error:
        raise HTTPException(404, str(error)) from None
    except UploadQuotaExceeded as error:
        raise HTTPException(413, str(error)) from None
    return _document_out(check, check.document(document_id))


def _over_quota(dossier_id: str, used: int, size: int, quota: int) -> str:
    return (
        f"dossier {dossier_id} holds {used} bytes of uploads; {size} more would pass its "
        f"quota of {quota} bytes (ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES)"
    )


@router.post(
    "/documents/{document_id}/copy",
    response_model=DocumentOut,
    tags=["dossier check"],
    responses=errors(400, 404, 409, 413),
)
async def copy(document_id: UUID, body: CopyIn, who: Adviser, request: Request) -> DocumentOut:
    """The copy icon: use the file of another uploaded document of the same dossier."""
    try:
        check = await asyncio.to_thread(
            _app(request).copy,
            who.tenant,
            document_id,
            body.source_document_id,
            f"{who.role}:{who.sub}",
            datetime.now(UTC),
        )
    except DocumentNotFound as error:
        if str(body.source_document_id) in str(error):
            raise HTTPException(422, f"source {error}") from None
        raise HTTPException(404, str(error)) from None
    except NothingUploaded as error:
        raise HTTPException(422, str(error)) from None
    return _document_out(check, check.document(document_id))


@router.delete(
    "/documents/{document_id}", status_code=204, tags=["dossier check"], responses=errors(404, 409)
)
async def remove_document(document_id: UUID, who: Adviser, request: Request) -> Response:
    """The cross in the dossier check: the document and its action point go (409 after upload)."""
    try:
        await asyncio.to_thread(
            _app(request).remove_document,
            who.tenant,
            document_id,
            f"{who.role}:{who.sub}",
            datetime.now(UTC),
        )
    except DocumentNotFound as error:
        raise HTTPException(404, str(error)) from None
    except DocumentHasUpload as error:
        raise HTTPException(409, str(error)) from None
    return Response(status_code=204)


@router.delete(
    "/action-points/{action_point_id}",
    status_code=204,
    tags=["action points"],
    responses=errors(404, 409),
)
async def remove_action_point(action_point_id: UUID, who: Adviser, request: Request) -> Response:
    """Remove only the action point: it leaves the portal, the document stays in the check."""
    try:
        await asyncio.to_thread(
            _app(request).remove_action_point,
            who.tenant,
            action_point_id,
            f"{who.role}:{who.sub}",
            datetime.now(UTC),
        )
    except ActionPointNotFound as error:
        raise HTTPException(404, str(error)) from None
    return Response(status_code=204)
