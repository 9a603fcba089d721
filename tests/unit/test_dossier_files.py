"""Checking what was delivered (SPEC section 7), without a broker: a document's versions (a
copy is one too), who downloaded which version (the dossier's access log, apart from the
dossier check), a review bound to the version the adviser saw, and a client that uploads only
where an action point asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ConfigureDocumentType,
    CopyDocument,
    DossierChecks,
    RemoveActionPoint,
    ReviewDocument,
    UploadDocument,
    ViewDocument,
)
from services.dossiercontrole_service.domainmodel import (
    AccessLog,
    ActionPoint,
    ActionPointStatus,
    Document,
    DocumentNotFound,
    DocumentStatus,
    DossierCheck,
    MoveRefused,
    NewerVersionArrived,
    NoSuchVersion,
    StoredFile,
    Subject,
    VersionNotFound,
    document_id_for,
)
from services.dossiercontrole_service.files import (
    StoredFileMissing,
    content_disposition,
    stream_file,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OFFICE, OTHER_OFFICE, DOSSIER = "kantoor-utrecht", "kantoor-amsterdam", "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ADVISER, CLIENT = "adviser:adviseur-1", "client:klant-1"


def file(name: str, fill: str) -> dict[str, Any]:
    return {"sha256": fill * 64, "size": 1000, "content_type": "application/pdf", "filename": name}


FRONT, BACK, SCAN = file("voorkant.pdf", "a"), file("achterkant.pdf", "b"), file("scan.pdf", "c")


def request(
    app: DossierChecks, document_type: str = "identiteitsbewijs", action_point: bool | None = None
) -> UUID:
    request_id = uuid4()
    app.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, action_point, NOW
        )
    )
    return document_id_for(request_id)


def upload(
    app: DossierChecks, document_id: UUID, content: dict[str, Any], by: str = CLIENT
) -> Document:
    command = UploadDocument(
        OFFICE, document_id, content, by, NOW, by_client=by.startswith("client:")
    )
    app.check_upload(command)
    return app.upload(command).document(document_id)


def review(
    app: DossierChecks, document_id: UUID, decision: str, version: int | None, **kw: Any
) -> Document:
    command = ReviewDocument(
        OFFICE,
        document_id,
        decision,
        kw.get("reason"),
        ADVISER,
        NOW,
        version=version,
    )
    return app.review(command).document(document_id)


def check_version(app: DossierChecks) -> int:
    return app.get_dossier_check(OFFICE, DOSSIER).version


def in_two_versions(app: DossierChecks) -> UUID:
    """The ID card, its front delivered as version 1 and its back as version 2."""
    passport = request(app)
    upload(app, passport, FRONT)
    upload(app, passport, BACK)
    return passport


# --- versions ----------------------------------------------------------------------------------


def test_the_versions_of_a_document_are_its_uploads_and_copies_oldest_first(
    checks: DossierChecks,
) -> None:
    passport, statement = request(checks), request(checks, "bankafschrift")
    upload(checks, passport, FRONT)
    upload(checks, passport, BACK, by=ADVISER)
    upload(checks, statement, SCAN)
    # The adviser copies the passport into the bank statement's place: a version of it too.
    checks.copy(CopyDocument(OFFICE, statement, passport, ADVISER, NOW + timedelta(hours=1)))

    dossier_id, document = checks.get_document(OFFICE, statement)

    assert dossier_id == DOSSIER
    assert [(f.version, f.filename, f.uploaded_by) for f in document.files] == [
        (1, "scan.pdf", CLIENT),
        (2, "achterkant.pdf", ADVISER),
    ]
    assert document.files[1].copied_from == passport
    assert document.file_of() == document.file_of(2) == document.files[1]
    assert document.file_of(1).sha256 == "c" * 64
    with pytest.raises(VersionNotFound, match="no version 3") as unknown:
        document.file_of(3)
    assert unknown.value.status == 404


def test_a_document_without_a_file_has_no_version_to_download(checks: DossierChecks) -> None:
    _, document = checks.get_document(OFFICE, request(checks))

    assert document.files == ()
    with pytest.raises(VersionNotFound, match="no file yet"):
        document.file_of()


def test_only_the_office_and_the_dossiers_client_find_its_documents(
    checks: DossierChecks,
) -> None:
    passport = request(checks)

    with pytest.raises(DocumentNotFound):
        checks.get_document(OTHER_OFFICE, passport)
    with pytest.raises(DocumentNotFound):  # a client of another dossier of the office
        checks.get_document(OFFICE, passport, visible=lambda dossier: dossier != DOSSIER)
    assert checks.get_document(OFFICE, passport, visible=lambda d: d == DOSSIER)[0] == DOSSIER


# --- downloads, recorded --------------------------------------------------------------------------


def test_each_download_is_recorded_in_the_dossiers_access_log_not_its_check(
    checks: DossierChecks,
) -> None:
    passport = in_two_versions(checks)
    before = check_version(checks)

    # The adviser opens version 2, then version 1; the client looks at version 2.
    for version, by, minutes in ((2, ADVISER, 1), (1, ADVISER, 2), (2, CLIENT, 3)):
        at = NOW + timedelta(minutes=minutes)
        checks.record_view(ViewDocument(OFFICE, DOSSIER, passport, version, by, at))

    log_id = AccessLog.create_id(OFFICE, DOSSIER)
    views = [e for e in checks.events.get(log_id) if type(e).__qualname__.endswith("Viewed")]
    assert [(e.document_id, e.version, e.by, e.at) for e in views] == [
        (passport, 2, ADVISER, NOW + timedelta(minutes=1)),
        (passport, 1, ADVISER, NOW + timedelta(minutes=2)),
        (passport, 2, CLIENT, NOW + timedelta(minutes=3)),
    ]
    # The dossier check did not move: a download at the moment of an upload conflicts with it
    # in nothing.
    assert check_version(checks) == before
    # Another dossier, and the same dossier id in another office, have logs of their own.
    assert AccessLog.create_id(OFFICE, "dossier-2") != log_id
    assert AccessLog.create_id(OTHER_OFFICE, DOSSIER) != log_id


def test_a_download_is_never_published(checks: DossierChecks) -> None:
    passport = request(checks)
    upload(checks, passport, FRONT)
    checks.record_view(ViewDocument(OFFICE, DOSSIER, passport, 1, ADVISER, NOW))

    translate = kafka.OUTBOX.translator(checks)
    log_events = list(checks.events.get(AccessLog.create_id(OFFICE, DOSSIER)))
    assert [type(e).__qualname__ for e in log_events] == [
        "AccessLog.Opened",
        "AccessLog.DocumentViewed",
    ]
    assert [translate(event) for event in log_events] == [[], []]


# --- the review binds to a version ----------------------------------------------------------------


def test_a_review_of_a_version_that_is_no_longer_the_latest_changes_nothing(
    checks: DossierChecks,
) -> None:
    # The adviser looks at version 1; meanwhile the client delivers the back as version 2.
    passport = in_two_versions(checks)
    before = check_version(checks)

    for decision in ("approve", "reject"):
        with pytest.raises(NewerVersionArrived, match="a newer version arrived") as refused:
            review(checks, passport, decision, 1, reason="Onleesbaar")
        assert refused.value.status == 409
    with pytest.raises(NoSuchVersion) as unknown:  # a version never delivered
        review(checks, passport, "approve", 3)
    assert unknown.value.status == 422
    assert check_version(checks) == before
    assert checks.get_document(OFFICE, passport)[1].status is DocumentStatus.UPLOADED

    # Reviewing what it now shows, the latest, the adviser approves it.
    assert review(checks, passport, "approve", 2).status is DocumentStatus.APPROVED


def test_a_review_without_a_version_decides_on_the_latest(checks: DossierChecks) -> None:
    passport = in_two_versions(checks)

    rejected = review(checks, passport, "reject", None, reason="De achterkant is onscherp")

    assert rejected.status is DocumentStatus.REJECTED
    events = list(checks.events.get(DossierCheck.create_id(OFFICE, DOSSIER)))
    assert events[-1].version == 2  # the rejection names the version it decided on


# --- uploads only where asked ---------------------------------------------------------------------


def test_a_client_uploads_only_where_an_action_point_asks_for_it(checks: DossierChecks) -> None:
    asked, not_asked = request(checks), request(checks, "taxatierapport", action_point=False)
    removed = request(checks, "loonstrook")
    point = checks.get_document(OFFICE, removed)[1].action_point
    assert point is not None
    checks.remove_action_point(RemoveActionPoint(OFFICE, point.action_point_id, ADVISER, NOW))

    # Asked: the open action point; then a new version while it is completed and not reviewed.
    assert upload(checks, asked, FRONT).status is DocumentStatus.UPLOADED
    assert len(upload(checks, asked, BACK).files) == 2
    # Not asked (no action point, or the adviser removed it): as if the document did not exist,
    # before any bytes are stored and at the upload itself; nothing changed.
    for document_id in (not_asked, removed):
        command = UploadDocument(OFFICE, document_id, SCAN, CLIENT, NOW, by_client=True)
        with pytest.raises(DocumentNotFound):
            checks.check_upload(command)
        with pytest.raises(DocumentNotFound):
            checks.upload(command)
        assert checks.get_document(OFFICE, document_id)[1].files == ()
    # The adviser delivers anywhere in the office.
    assert upload(checks, not_asked, SCAN, by=ADVISER).status is DocumentStatus.UPLOADED
    assert upload(checks, removed, SCAN, by=ADVISER).status is DocumentStatus.UPLOADED


def test_a_rejected_document_asks_the_client_again_an_approved_one_no_more(
    checks: DossierChecks,
) -> None:
    passport = request(checks)
    upload(checks, passport, FRONT)
    review(checks, passport, "reject", 1, reason="De achterkant ontbreekt")
    assert upload(checks, passport, BACK).status is DocumentStatus.UPLOADED

    review(checks, passport, "approve", 2)

    command = UploadDocument(OFFICE, passport, SCAN, CLIENT, NOW, by_client=True)
    with pytest.raises(DocumentNotFound):
        checks.upload(command)
    with pytest.raises(MoveRefused):  # the adviser is told why: approved takes no upload
        upload(checks, passport, SCAN, by=ADVISER)


def document_in(status: DocumentStatus, point: ActionPointStatus | None) -> Document:
    action_point = ActionPoint(uuid4(), point, NOW) if point is not None else None
    return Document(
        uuid4(), uuid4(), Subject.of(MORTGAGE), "identiteitsbewijs", "ID", status, NOW, action_point
    )


@pytest.mark.parametrize("status", list(DocumentStatus))
@pytest.mark.parametrize("point", [None, *ActionPointStatus])
def test_the_client_is_asked_while_its_action_point_stands_and_a_delivery_is_possible(
    status: DocumentStatus, point: ActionPointStatus | None
) -> None:
    # SPEC section 7: an action point that is open, or completed and not yet approved.
    # A "not applicable" claim the adviser has not decided yet may still be answered by a file.
    deliverable = {
        DocumentStatus.REQUESTED,
        DocumentStatus.UPLOADED,
        DocumentStatus.REJECTED,
        DocumentStatus.NOT_APPLICABLE_CLAIMED,
    }
    standing = {ActionPointStatus.OPEN, ActionPointStatus.COMPLETED}
    expected = status in deliverable and point in standing
    assert document_in(status, point).asks_the_client is expected


def test_a_type_that_opens_no_action_point_is_the_advisers_to_deliver(
    checks: DossierChecks,
) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin:b")
    )
    discharge = request(checks, "finale_kwijting")

    with pytest.raises(DocumentNotFound):
        upload(checks, discharge, SCAN)
    assert upload(checks, discharge, SCAN, by=ADVISER).files[0].uploaded_by == ADVISER


# --- the file's answer ---------------------------------------------------------------------------


def test_the_filename_is_named_in_utf8_and_in_plain_ascii() -> None:
    name = 'rapport "2025" ü\\100%.pdf'

    header = content_disposition(name, inline=False)

    assert header == (
        'attachment; filename="rapport _2025_ __100%.pdf"; '
        "filename*=UTF-8''rapport%20%222025%22%20%C3%BC%5C100%25.pdf"
    )
    assert content_disposition("a.png", inline=True).startswith('inline; filename="a.png"')


class Blobs:
    """A blob store whose files are generators that say whether they were closed."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.closed: list[str] = []

    def put(self, content: bytes) -> str:
        raise NotImplementedError

    def get(self, sha256: str) -> bytes:
        return self.files[sha256]

    def open_chunks(self, sha256: str, chunk: int = 4) -> Generator[bytes, None, None]:
        try:
            content = self.files[sha256]
            for start in range(0, len(content), chunk):
                yield content[start : start + chunk]
        finally:
            self.closed.append(sha256)


STORED = StoredFile(1, "d" * 64, 10, "application/pdf", "scan.pdf", NOW, CLIENT)


def test_a_download_is_recorded_once_its_file_is_found_and_then_streamed() -> None:
    blobs, recorded = Blobs({"d" * 64: b"%PDF-1.4\nx"}), []

    async def record() -> None:
        recorded.append("viewed")

    async def body() -> bytes:
        response = await stream_file(blobs, STORED, inline=True, on_start=record)
        assert recorded == ["viewed"]  # before the first byte goes out
        assert response.headers["content-length"] == "10"
        assert response.headers["content-disposition"].startswith("inline;")
        return b"".join([piece async for piece in response.body_iterator])

    assert asyncio.run(body()) == b"%PDF-1.4\nx"


def test_a_file_missing_from_the_store_is_not_found_and_no_download() -> None:
    recorded: list[str] = []

    async def record() -> None:
        recorded.append("viewed")

    with pytest.raises(StoredFileMissing, match="version 1") as missing:
        asyncio.run(stream_file(Blobs({}), STORED, inline=False, on_start=record))
    assert missing.value.status == 404
    assert recorded == []


def test_when_the_download_cannot_be_recorded_nothing_is_sent_and_the_file_is_let_go() -> None:
    blobs = Blobs({"d" * 64: b"%PDF-1.4\nx"})

    async def store_down() -> None:
        raise ConnectionError("the store is down")

    with pytest.raises(ConnectionError):
        asyncio.run(stream_file(blobs, STORED, inline=False, on_start=store_down))
    assert blobs.closed == ["d" * 64]
