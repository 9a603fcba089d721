"""PDFs of a delivery (SPEC section 9): a PDF is checked when it arrives, and a version of
several files is merged into one PDF for a lender.

pypdf reads and merges PDFs; img2pdf makes a page of a JPEG or PNG without decoding and
re-encoding it (a JPEG goes in byte for byte, so a scanned ID keeps every detail it had), which
Pillow's own PDF writer does not (it re-encodes a JPEG). A password-protected PDF is refused
at upload, as is one pypdf cannot read: a lender could not open either, and a merge of it
would fail later, where nobody can ask the client any more.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

from servicekit.domain import Invalid

# pypdf, img2pdf (with Pillow and pikepdf) are imported where a PDF is read or merged: together
# 18 MiB of a dossier check's memory at start, which most processes never need (issue 21).

log = logging.getLogger(__name__)

# pypdf logs every repair it makes of a damaged file as a warning; what matters is the verdict.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class ProtectedPdf(Invalid):
    """A PDF that needs a password (or is encrypted at all): it cannot be checked or merged."""


class UnreadablePdf(Invalid):
    """Bytes that start as a PDF but that no PDF reader can open (damaged, cut off)."""


class PartNotMergeable(Invalid):
    """A part of a version that cannot become pages of the merged PDF."""


def check_pdf(content: bytes, name: str = "the file") -> None:
    """Refuses a PDF that is password-protected or unreadable (``name`` says which file)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted:
            raise ProtectedPdf(f"{name} is a password-protected PDF: send it without a password")
        if len(reader.pages) < 1:
            raise UnreadablePdf(f"{name} is a PDF without pages")
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        log.info("unreadable PDF %s: %s", name, error)
        raise UnreadablePdf(f"{name} is a PDF that cannot be read (damaged?)") from None


def merged_pdf(parts: Sequence[tuple[str, bytes]]) -> bytes:
    """One PDF of ``parts`` (content type, bytes) in their order: a PDF's pages as they are,
    a JPEG or PNG as a page of its own, at its own size."""
    import img2pdf
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for number, (content_type, content) in enumerate(parts, start=1):
        try:
            pdf = content if content_type == "application/pdf" else img2pdf.convert(content)
            writer.append(PdfReader(io.BytesIO(pdf)))
        except Exception as error:  # every library's own error: the part is what is wrong
            log.warning("part %d (%s) cannot be merged: %s", number, content_type, error)
            raise PartNotMergeable(f"part {number} cannot be made into PDF pages") from None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
