"""A document's files as the API shows them (SPEC sections 7 and 9): its versions
(``VersionOut``, each with its ``files``), and a version's bytes (``stream_file``), streamed
from the blob store a chunk at a time (never held whole), with headers that keep a browser from
running, sniffing or caching them: the stored type, ``nosniff``, a sandbox, ``no-store``, and
the content's SHA-256 as its ETag. A version of several files answers one part (``part=K``) or
all of them as one PDF (``merged=1``, made in memory: a version holds at most the upload limit).
Its routes (``router``: the versions and a file) are here, beside what they answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, Field

from servicekit.auth import Identity, actor_of, require
from servicekit.domain import Invalid, NotFound
from servicekit.errors import AUTHENTICATED, errors
from services.dossiercontrole_service.application import DossierChecks, ViewDocument
from services.dossiercontrole_service.blobstore import ACCEPTED_TYPES, CHUNK, Blobs
from services.dossiercontrole_service.domainmodel import Document, FilePart, StoredFile
from services.dossiercontrole_service.pdfs import merged_pdf

log = logging.getLogger(__name__)

MAX_VERSION = 1_000_000_000
"""The highest version number the API reads (a document will not get that many)."""


def in_digits(value: object) -> object:
    """A version in a URL as written: only digits (``1.0``, ``+1`` or `` 1`` are no versions)."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError("a version is a positive whole number in digits: 1, 2, ...")
        if len(value) > len(str(MAX_VERSION)):
            raise ValueError(f"a version is at most {MAX_VERSION}")
    return value


class PersonOut(BaseModel):
    role: str | None = Field(
        description="`adviser` or `client`; null for a file stored before roles were recorded."
    )
    sub: str


class FilePartOut(BaseModel):
    sha256: str
    filename: str
    content_type: str
    size: int


class VersionOut(BaseModel):
    version: int
    sha256: str
    filename: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: PersonOut
    copied_from: UUID | None = Field(
        None, description="A copy: the document whose file it took (the copy icon)."
    )
    files: list[FilePartOut] = Field(
        default_factory=list,
        description="Every file of the version, part 1 first (`file?version=N&part=K`); the "
        "fields above describe part 1, as they did when a version was always one file.",
    )

    @classmethod
    def of(cls, stored: StoredFile) -> VersionOut:
        role, sub = actor_of(stored.uploaded_by)
        return cls(
            **stored.metadata(),
            version=stored.version,
            uploaded_at=stored.uploaded_at,
            uploaded_by=PersonOut(role=role, sub=sub),
            copied_from=stored.copied_from,
            files=[FilePartOut(**part.metadata()) for part in stored.parts],
        )


class VersionList(BaseModel):
    document_id: UUID
    versions: list[VersionOut]


FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cache-Control": "private, no-store",
}
"""What every file answer says, whatever the file."""

FILE_ANSWER: dict[str, Any] = {
    "description": "The file's bytes, as stored (streamed; `Content-Length` is its size).",
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES},
    "headers": {
        "Content-Disposition": {
            "description": "`attachment`, or `inline` with `?inline=1`; the stored filename as "
            "`filename*=UTF-8''<percent-encoded>` and, for older clients, an ASCII `filename`",
            "schema": {"type": "string"},
        },
        "ETag": {"description": "The content's SHA-256, quoted", "schema": {"type": "string"}},
        **{
            name: {"description": f"`{value}`", "schema": {"type": "string"}}
            for name, value in FIXED_HEADERS.items()
        },
    },
}
"""The OpenAPI answer of a download (``responses={200: FILE_ANSWER}``)."""


class StoredFileMissing(NotFound):
    """The dossier check lists a version whose bytes this replica's blob store does not hold
    (a data dir that is not this machine's, a restore without the files)."""


def content_disposition(filename: str, *, inline: bool) -> str:
    """``attachment`` (or ``inline``) naming the file twice (RFC 6266): ``filename*`` in
    percent-encoded UTF-8, and ``filename`` in printable ASCII (others as ``_``) for clients
    that do not read the first."""
    ascii_name = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in filename)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_headers(stored: FilePart | StoredFile, *, inline: bool) -> dict[str, str]:
    """The headers of a file's answer; ``inline`` only for a type a browser may show (PDF,
    JPEG, PNG: every type an upload can have)."""
    return {
        "Content-Length": str(stored.size),
        "Content-Disposition": content_disposition(
            stored.filename, inline=inline and stored.content_type in ACCEPTED_TYPES
        ),
        "ETag": f'"{stored.sha256}"',
        **FIXED_HEADERS,
    }


async def stream_file(
    blobs: Blobs,
    stored: FilePart | StoredFile,
    *,
    inline: bool,
    on_start: Callable[[], Awaitable[None]],
    label: str | None = None,
) -> StreamingResponse:
    """The answer that streams ``stored``'s bytes (``label`` names it in a refusal). Its
    first chunk is read before the answer starts, so that a file missing from the store is a
    404 rather than a broken answer; then ``on_start`` runs (the download is recorded), and a
    failure there sends nothing."""
    if label is None:
        label = f"the file of version {getattr(stored, 'version', '?')}"
    chunks = blobs.open_chunks(stored.sha256)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except KeyError:
        log.warning("%s (%s) is not in the blob store", label, stored.sha256)
        raise StoredFileMissing(f"{label} is missing") from None
    try:
        await on_start()
    except BaseException:
        chunks.close()  # gives back the file or the database connection it holds
        raise
    # The rest is read a chunk at a time, each in a worker thread (the store's calls block).
    return StreamingResponse(
        chain((first,), chunks),
        media_type=stored.content_type,
        headers=file_headers(stored, inline=inline),
    )


async def stream_merged(
    blobs: Blobs,
    document: Document,
    stored: StoredFile,
    *,
    inline: bool,
    on_start: Callable[[], Awaitable[None]],
) -> StreamingResponse:
    """Version ``stored`` as one PDF (``merged_pdf``), sent in chunks with a file's headers;
    its ETag is the merged PDF's SHA-256 (the same parts always merge alike)."""

    def merge() -> bytes:
        try:
            parts = [(part.content_type, blobs.get(part.sha256)) for part in stored.parts]
        except KeyError:
            log.warning("a file of version %d is not in the blob store", stored.version)
            raise StoredFileMissing(f"a file of version {stored.version} is missing") from None
        return merged_pdf(parts)

    content = await asyncio.to_thread(merge)
    await on_start()
    merged = FilePart(
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content_type="application/pdf",
        filename=f"{document.document_type}-versie-{stored.version}.pdf",
    )
    return StreamingResponse(
        _chunks(content),
        media_type=merged.content_type,
        headers=file_headers(merged, inline=inline),
    )


def _chunks(content: bytes) -> Iterator[bytes]:
    view = memoryview(content)
    for start in range(0, len(content), CHUNK):
        yield bytes(view[start : start + CHUNK])


# --- the routes: a document's versions and their files ---------------------------------------

router = APIRouter(responses=AUTHENTICATED)
AdviserOrClient = Annotated[Identity, Depends(require("adviser", "client"))]


def _app(request: Request) -> DossierChecks:
    return request.app.state.application  # type: ignore[no-any-return]


@router.get(
    "/documents/{document_id}/versions",
    response_model=VersionList,
    tags=["files"],
    responses=errors(404),
)
async def versions(document_id: UUID, who: AdviserOrClient, request: Request) -> VersionList:
    """Every version of the document's file, oldest first; a copy is a version too (the
    adviser, or the dossier's client)."""
    _, document = await asyncio.to_thread(
        _app(request).get_document, who.tenant, document_id, who.may_see_dossier
    )
    return VersionList(document_id=document_id, versions=[VersionOut.of(f) for f in document.files])


Number = Annotated[int | None, BeforeValidator(in_digits)]


@router.get(
    "/documents/{document_id}/file",
    response_class=StreamingResponse,
    tags=["files"],
    responses={**errors(404), 200: FILE_ANSWER},
)
async def download(
    document_id: UUID,
    who: AdviserOrClient,
    request: Request,
    version: Annotated[
        Number, Query(ge=1, le=MAX_VERSION, description="Which version (default: the latest).")
    ] = None,
    part: Annotated[
        Number,
        Query(ge=1, le=MAX_VERSION, description="Which file of the version (default: the first)."),
    ] = None,
    merged: Annotated[
        Literal["0", "1"],
        Query(description="`1`: every file of the version as one PDF (images as pages)."),
    ] = "0",
    inline: Annotated[
        Literal["0", "1"], Query(description="`1`: for the browser to show, not to save.")
    ] = "0",
) -> StreamingResponse:
    """A version's file (the adviser, or the dossier's client): one part, or the version as
    one PDF; each download is recorded in the dossier's history (``DocumentViewed``) as it
    starts. A part the version does not have is a 404; ``part`` with ``merged=1`` a 422."""
    if merged == "1" and part is not None:
        raise PartAndMerged("ask for one part, or for the merged PDF (merged=1), not both")
    app = _app(request)
    dossier_id, document = await asyncio.to_thread(
        app.get_document, who.tenant, document_id, who.may_see_dossier
    )
    stored = document.file_of(version)
    view = ViewDocument(
        who.tenant,
        dossier_id,
        document_id,
        stored.version,
        who.actor,
        datetime.now(UTC),
        part=part,
        merged=merged == "1",
    )

    def record() -> Awaitable[None]:
        return asyncio.to_thread(app.record_view, view)

    if merged == "1":
        return await stream_merged(
            request.app.state.blobs, document, stored, inline=inline == "1", on_start=record
        )
    number = part or 1
    return await stream_file(
        request.app.state.blobs,
        stored.part(number) if part is not None else stored,
        inline=inline == "1",
        on_start=record,
        label=f"the file of version {stored.version}"
        + (f", part {number}" if part is not None else ""),
    )


class PartAndMerged(Invalid):
    pass
