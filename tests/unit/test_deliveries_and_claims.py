"""Real needs lists in the dossier check (SPEC section 9, items 4 and 5), on an in-memory store:
a version of several files and files appended to it, what is published of them; a "not
applicable" claim, waived or refused, and what is published of that."""

from __future__ import annotations

import io
from uuid import uuid4

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter

from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ClaimNotApplicable,
    DossierChecks,
    ReviewDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    MAX_PARTS,
    AlreadyReviewed,
    DocumentStatus,
    NoteRequired,
    NotOpen,
    VersionFull,
    action_point_id_for,
    document_id_for,
)
from services.dossiercontrole_service.pdfs import (
    PartNotMergeable,
    ProtectedPdf,
    UnreadablePdf,
    check_pdf,
    merged_pdf,
)
from shared.events import contracts as c
from shared.events import topics
from tests.support import pdf_file
from tests.unit.kafka_edge import DOSSIER, MORTGAGE, NOW, OFFICE, Outbox, types

FRONT = {"sha256": "a" * 64, "size": 100, "content_type": "image/jpeg", "filename": "voor.jpg"}
BACK = {"sha256": "b" * 64, "size": 120, "content_type": "image/png", "filename": "achter.png"}
PAGE = {"sha256": "c" * 64, "size": 300, "content_type": "application/pdf", "filename": "p.pdf"}
CLIENT = "client:klant-1"
ADVISER = "adviser:a-1"


def requested(checks: DossierChecks, document_type: str = "identiteitsbewijs") -> tuple:
    request_id = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, None, NOW)
    )
    return document_id_for(request_id), action_point_id_for(request_id)


def test_one_upload_of_several_files_is_one_version_and_is_published_with_its_files(
    checks: DossierChecks,
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    passport, _ = requested(checks)
    outbox.new()

    checks.upload(UploadDocument(OFFICE, passport, FRONT, CLIENT, NOW, more_files=(BACK,)))

    uploaded, completed = outbox.new()
    assert isinstance(uploaded, c.DocumentUploaded) and isinstance(
        completed, c.ActionPointCompleted
    )
    assert uploaded.data.version == 1
    assert uploaded.data.file.sha256 == "a" * 64
    assert [f.sha256 for f in uploaded.data.files or ()] == ["a" * 64, "b" * 64]
    [version] = checks.get_document(OFFICE, passport)[1].files
    assert [p.filename for p in version.parts] == ["voor.jpg", "achter.png"]
    assert version.part(2).sha256 == "b" * 64


def test_a_single_file_is_published_as_before_without_files(checks: DossierChecks) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    passport, _ = requested(checks)
    outbox.new()

    checks.upload(UploadDocument(OFFICE, passport, PAGE, CLIENT, NOW))

    uploaded, _ = outbox.new()
    assert "files" not in uploaded.model_dump_json(exclude_none=False)


def test_files_appended_until_the_review_republish_the_version_with_all_its_files(
    checks: DossierChecks,
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    passport, _ = requested(checks)
    # An append to a document without a version is its first version.
    checks.upload(UploadDocument(OFFICE, passport, FRONT, CLIENT, NOW, append=True))
    outbox.new()

    checks.upload(UploadDocument(OFFICE, passport, BACK, CLIENT, NOW, append=True))

    (again,) = outbox.new()  # no second ActionPointCompleted: it was completed already
    assert isinstance(again, c.DocumentUploaded) and again.data.version == 1
    assert [f.filename for f in again.data.files or ()] == ["voor.jpg", "achter.png"]
    assert len(checks.get_document(OFFICE, passport)[1].files) == 1

    checks.review(ReviewDocument(OFFICE, passport, "approve", None, ADVISER, NOW))
    with pytest.raises(AlreadyReviewed) as refused:
        checks.upload(UploadDocument(OFFICE, passport, PAGE, CLIENT, NOW, append=True))
    assert refused.value.status == 409


def test_a_version_holds_at_most_so_many_files_and_bytes(checks: DossierChecks) -> None:
    passport, _ = requested(checks)
    too_many = tuple(PAGE for _ in range(MAX_PARTS))
    with pytest.raises(VersionFull):
        checks.check_upload(
            UploadDocument(OFFICE, passport, FRONT, CLIENT, NOW, more_files=too_many)
        )
    checks.upload(UploadDocument(OFFICE, passport, FRONT, CLIENT, NOW, most=250))
    with pytest.raises(VersionFull) as full:
        checks.upload(UploadDocument(OFFICE, passport, BACK, CLIENT, NOW, append=True, most=200))
    assert full.value.status == 413


def test_a_claim_completes_the_point_for_now_and_the_adviser_waives_it(
    checks: DossierChecks,
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    divorce, point = requested(checks, "echtscheidingsconvenant")
    outbox.new()

    with pytest.raises(NoteRequired):
        checks.claim_not_applicable(ClaimNotApplicable(OFFICE, point, "  ", CLIENT, NOW))
    checks.claim_not_applicable(ClaimNotApplicable(OFFICE, point, "Nooit getrouwd", CLIENT, NOW))

    claimed, completed = outbox.new()
    assert isinstance(claimed, c.NotApplicableClaimed)
    assert (claimed.data.note, claimed.data.claimed_by) == ("Nooit getrouwd", CLIENT)
    assert isinstance(completed, c.ActionPointCompleted) and completed.data.action_point_id == point
    # The point is done for now: no second claim, no reminders.
    with pytest.raises(NotOpen):
        checks.claim_not_applicable(ClaimNotApplicable(OFFICE, point, "Echt", CLIENT, NOW))
    assert checks.get_dossier_check(OFFICE, DOSSIER).open_points() == []

    checks.review(ReviewDocument(OFFICE, divorce, "waive", None, ADVISER, NOW))

    assert types(outbox.new()) == ["DocumentWaived"]
    assert checks.get_document(OFFICE, divorce)[1].status is DocumentStatus.WAIVED


def test_a_refused_claim_reopens_the_point_with_the_reason(checks: DossierChecks) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    pension, point = requested(checks, "pensioenoverzicht")
    checks.claim_not_applicable(ClaimNotApplicable(OFFICE, point, "Geen pensioen", CLIENT, NOW))
    outbox.new()

    checks.review(ReviewDocument(OFFICE, pension, "reject", "U werkt sinds 2015", ADVISER, NOW))

    refused, reopened = outbox.new()
    assert (
        isinstance(refused, c.NotApplicableRefused) and refused.data.reason == "U werkt sinds 2015"
    )
    assert isinstance(reopened, c.ActionPointReopened) and reopened.data.action_point_id == point
    document = checks.get_document(OFFICE, pension)[1]
    assert document.status is DocumentStatus.REJECTED
    assert document.rejection_reason == "U werkt sinds 2015"


def image(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if kind == "PNG" else "RGB", (40, 30), (10, 20, 30)).save(out, kind)
    return out.getvalue()


def test_a_version_merges_into_one_pdf_with_each_image_a_page() -> None:
    two_pages = PdfWriter()
    two_pages.add_blank_page(595, 842)
    two_pages.add_blank_page(595, 842)
    pdf = io.BytesIO()
    two_pages.write(pdf)

    merged = merged_pdf(
        [
            ("image/jpeg", image("JPEG")),
            ("application/pdf", pdf.getvalue()),
            ("image/png", image("PNG")),  # with an alpha channel
        ]
    )

    assert len(PdfReader(io.BytesIO(merged)).pages) == 4
    with pytest.raises(PartNotMergeable, match="part 2"):
        merged_pdf([("image/png", image("PNG")), ("image/jpeg", b"\xff\xd8\xff broken")])


def test_a_pdf_is_refused_when_it_has_a_password_or_cannot_be_read() -> None:
    check_pdf(pdf_file("leesbaar"))
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("geheim")
    protected = io.BytesIO()
    writer.write(protected)

    with pytest.raises(ProtectedPdf, match="password"):
        check_pdf(protected.getvalue(), "file 2 (convenant.pdf)")
    with pytest.raises(UnreadablePdf, match="cannot be read"):
        check_pdf(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    with pytest.raises(UnreadablePdf):
        check_pdf(pdf_file()[:200])  # cut off
