"""An upload's files as they arrive (SPEC sections 4 and 9): one or several ``file`` parts,
each read up to the size limit, judged by its bytes (PDF, JPEG or PNG), a PDF also opened
(``pdfs.check_pdf``: no password, readable), its filename kept as metadata only."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import UploadFile

from servicekit.domain import Invalid
from services.dossiercontrole_service.blobstore import inspect_upload, safe_filename
from services.dossiercontrole_service.domainmodel import MAX_PARTS
from services.dossiercontrole_service.pdfs import check_pdf


class TooManyFiles(Invalid):
    pass


async def read_files(files: list[UploadFile], limit: int) -> list[tuple[dict[str, Any], bytes]]:
    """Each file's metadata (``size``, ``content_type``, ``filename``) and bytes, in the order
    sent; a refusal names the file (by its place and name) when there are several."""
    if len(files) > MAX_PARTS:
        raise TooManyFiles(f"at most {MAX_PARTS} files in one upload (a version)")
    read = []
    for number, file in enumerate(files, start=1):
        filename = safe_filename(file.filename)
        content = await file.read(limit + 1)
        content_type = inspect_upload(content, limit)
        if content_type == "application/pdf":
            name = f"file {number} ({filename})" if len(files) > 1 else f"the file {filename}"
            await asyncio.to_thread(check_pdf, content, name)
        read.append(
            ({"size": len(content), "content_type": content_type, "filename": filename}, content)
        )
    return read
