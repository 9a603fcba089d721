"""A document's files as the API shows them (SPEC section 7): its versions (``VersionOut``),
and a version's bytes (``stream_file``), streamed from the blob store a chunk at a time (never
held whole), with headers that keep a browser from running, sniffing or caching them: the
stored type, ``nosniff``, a sandbox, ``no-store``, and the content's SHA-256 as its ETag."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from itertools import chain
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from servicekit.auth import actor_of
from servicekit.domain import NotFound
from services.dossiercontrole_service.blobstore import ACCEPTED_TYPES, Blobs
from services.dossiercontrole_service.domainmodel import StoredFile

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

    @classmethod
    def of(cls, stored: StoredFile) -> VersionOut:
        role, sub = actor_of(stored.uploaded_by)
        return cls(
            **stored.metadata(),
            version=stored.version,
            uploaded_at=stored.uploaded_at,
            uploaded_by=PersonOut(role=role, sub=sub),
            copied_from=stored.copied_from,
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


def file_headers(stored: StoredFile, *, inline: bool) -> dict[str, str]:
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
    stored: StoredFile,
    *,
    inline: bool,
    on_start: Callable[[], Awaitable[None]],
) -> StreamingResponse:
    """The answer that streams ``stored``'s bytes. Its first chunk is read before the answer
    starts, so that a file missing from the store is a 404 rather than a broken answer; then
    ``on_start`` runs (the download is recorded), and a failure there sends nothing."""
    chunks = blobs.open_chunks(stored.sha256)
    try:
        first = await asyncio.to_thread(next, chunks, b"")
    except KeyError:
        log.warning("version %d's file %s is not in the blob store", stored.version, stored.sha256)
        raise StoredFileMissing(f"the file of version {stored.version} is missing") from None
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
