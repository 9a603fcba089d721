"""The dossier check (dossiercontrole) as an adviser and a client use it (no broker).

Documents arrive as requests (from scenarios, document lists or the adviser), most with an
action point for the client; uploads and copies complete them; the two removal paths of the
seed take the action point away with or without the document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ChooseProgressCounts,
    ConfigureDocumentType,
    CopyDocument,
    DossierChecks,
    RemoveActionPoint,
    RemoveDocument,
    ReviewDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    ActionPoint,
    ActionPointNotFound,
    ActionPointStatus,
    Document,
    DocumentHasUpload,
    DocumentNotFound,
    MoveRefused,
    NothingUploaded,
    ProgressCounts,
    ReasonRequired,
    RequestIdInUse,
    SourceDocumentNotFound,
    StoredFile,
    Subject,
    UploadQuotaExceeded,
    action_point_id_for,
    document_id_for,
)

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
OFFICE = "kantoor-utrecht"
OTHER_OFFICE = "kantoor-amsterdam"
DOSSIER = "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
LIFE = {"type": "product", "id": "lv-1", "scope": "levensverzekering"}
PASSPORT = {
    "sha256": "a" * 64,
    "size": 52_133,
    "content_type": "application/pdf",
    "filename": "paspoort.pdf",
}
PASSPORT_BACK = {**PASSPORT, "sha256": "b" * 64, "filename": "paspoort-achterkant.pdf"}


def request(
    app: DossierChecks,
    document_type: str = "identiteitsbewijs",
    *,
    request_id: UUID | None = None,
    subject: dict[str, Any] = MORTGAGE,
    title: str | None = None,
    action_point: bool | None = None,
    tenant: str = OFFICE,
) -> UUID:
    """A document request arrives; returns the id of the document it would add."""
    request_id = request_id or uuid4()
    app.add_requested_document(
        AddRequestedDocument(
            tenant, DOSSIER, request_id, subject, document_type, title, action_point, NOW
        )
    )
    return document_id_for(request_id)


def documents(app: DossierChecks, tenant: str = OFFICE) -> list[Document]:
    return app.get_dossier_check(tenant, DOSSIER).current_documents()


def document(app: DossierChecks, document_id: UUID) -> Document:
    return app.get_dossier_check(OFFICE, DOSSIER).document(document_id)


def action_point_of(app: DossierChecks, document_id: UUID) -> ActionPoint | None:
    return document(app, document_id).action_point


def action_point_id_for_document(app: DossierChecks, document_id: UUID) -> UUID:
    point = action_point_of(app, document_id)
    assert point is not None
    return point.action_point_id


# --- requests ---------------------------------------------------------------------------------


def test_a_request_adds_a_document_with_an_open_action_point(checks: DossierChecks) -> None:
    request_id = uuid4()

    checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )

    (added,) = documents(checks)
    assert added.document_id == document_id_for(request_id)
    assert added.document_type == "identiteitsbewijs"
    assert added.title == "Identiteitsbewijs"
    assert added.subject == Subject.of(MORTGAGE)
    assert added.status == "requested"
    assert added.action_point == ActionPoint(
        action_point_id_for(request_id), ActionPointStatus.OPEN, created_at=NOW
    )


def test_a_type_configured_without_action_point_adds_only_the_document(
    checks: DossierChecks,
) -> None:
    # The admin sets that a final discharge never creates an action point.
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    )

    document_id = request(checks, "finale_kwijting")

    assert document(checks, document_id).title == "Finale kwijting"
    assert action_point_of(checks, document_id) is None


def test_the_request_says_action_point_and_that_wins_over_the_type_setting(
    checks: DossierChecks,
) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    )
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "identiteitsbewijs", "ID", True, "admin-1")
    )

    wanted = request(checks, "finale_kwijting", action_point=True)
    not_wanted = request(checks, "identiteitsbewijs", action_point=False)

    assert action_point_of(checks, wanted) is not None
    assert action_point_of(checks, not_wanted) is None


def test_a_type_nobody_configured_creates_an_action_point(checks: DossierChecks) -> None:
    document_id = request(checks, "werkgeversverklaring", title="Werkgeversverklaring 2025")

    assert document(checks, document_id).title == "Werkgeversverklaring 2025"
    point = action_point_of(checks, document_id)
    assert point is not None and point.status == "open"


def test_document_type_settings_are_listed_per_office(checks: DossierChecks) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    )
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", True, "admin-1")
    )
    checks.configure_document_type(
        ConfigureDocumentType(
            OFFICE, "loonstrook", "Loonstrook", True, "admin-1", "P3M", True, "P14D"
        )
    )

    assert [t.as_dict() for t in checks.get_document_types(OFFICE)] == [
        {
            "code": "finale_kwijting",
            "name": "Finale kwijting",
            "creates_action_point": True,
            "valid_for": None,
            "rerequest_on_expiry": False,
            "due_in": None,
        },
        {
            "code": "loonstrook",
            "name": "Loonstrook",
            "creates_action_point": True,
            "valid_for": "P3M",
            "rerequest_on_expiry": True,
            "due_in": "P14D",
        },
    ]
    assert checks.get_document_types(OTHER_OFFICE) == []


def test_the_same_request_delivered_twice_adds_one_document(checks: DossierChecks) -> None:
    request_id = uuid4()

    first = checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )
    second = checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, LATER
        )
    )

    assert first == document_id_for(request_id)
    assert second is None
    assert len(documents(checks)) == 1


def test_two_scenarios_asking_for_the_id_give_the_client_one_task(checks: DossierChecks) -> None:
    # Two scenarios on the same mortgage both request the identity document.
    first = request(checks, "identiteitsbewijs")
    request(checks, "identiteitsbewijs")

    # One document, one action point.
    (only,) = documents(checks)
    assert only.document_id == first
    assert only.action_point.status == "open"


def test_a_later_request_that_asks_for_a_task_opens_it_on_the_open_document(
    checks: DossierChecks,
) -> None:
    # The adviser asked for the final discharge without a task for the client ...
    first = request(checks, "finale_kwijting", action_point=False)
    assert action_point_of(checks, first) is None
    # ... then a scenario asks for the same document with an action point.
    later = uuid4()
    assert request(checks, "finale_kwijting", request_id=later, action_point=True)

    # Still one document, which now has the client's task the scenario asked for.
    (only,) = documents(checks)
    assert only.document_id == first
    assert only.action_point == ActionPoint(
        action_point_id_for(later), ActionPointStatus.OPEN, created_at=NOW
    )
    # The same request delivered again opens nothing more.
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, later, MORTGAGE, "finale_kwijting", None, True, LATER)
    )
    assert documents(checks)[0].action_point.created_at == NOW
    # The adviser finds the task by its id, and the client's upload completes it.
    assert checks.locate(OFFICE, action_point_id_for(later)) is not None
    checks.upload(UploadDocument(OFFICE, first, PASSPORT, "client:klant-1", LATER))
    assert action_point_of(checks, first) == ActionPoint(
        action_point_id_for(later), ActionPointStatus.COMPLETED, NOW, completed_at=LATER
    )


def test_a_later_request_by_document_type_follows_the_types_setting(
    checks: DossierChecks,
) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "taxatierapport", "Taxatierapport", False, "admin-1")
    )
    first = request(checks, "taxatierapport")
    # Asked again, by the type's setting (no task): still none.
    request(checks, "taxatierapport")
    assert action_point_of(checks, first) is None
    # The type's default for an unconfigured type is a task: a later request follows it.
    second = request(checks, "loonstrook", action_point=False)
    later = uuid4()
    request(checks, "loonstrook", request_id=later)
    assert action_point_id_for_document(checks, second) == action_point_id_for(later)


def test_a_request_id_that_opened_a_task_elsewhere_is_refused(checks: DossierChecks) -> None:
    # A request merged into dossier-1's open document and opened its task there ...
    request(checks, "finale_kwijting", action_point=False)
    reused = uuid4()
    request(checks, "finale_kwijting", request_id=reused, action_point=True)

    # ... a faulty producer sends the same request id for another dossier: its action point
    # id would be the one in dossier-1 (ids derive from the request id).
    with pytest.raises(RequestIdInUse):
        checks.add_requested_document(
            AddRequestedDocument(
                OFFICE, "dossier-2", reused, MORTGAGE, "loonstrook", None, True, NOW
            )
        )
    assert checks.get_dossier_check(OFFICE, "dossier-2").current_documents() == []


def test_a_task_the_adviser_removed_is_not_opened_again_by_a_later_request(
    checks: DossierChecks,
) -> None:
    first = request(checks, "identiteitsbewijs")
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id_for_document(checks, first), "adviser:a-1", NOW)
    )

    # Another scenario asks for the ID with a task: the adviser decided this document has none.
    request(checks, "identiteitsbewijs", action_point=True)

    point = action_point_of(checks, first)
    assert point is not None and point.status == "removed"


def test_the_same_type_on_another_subject_is_a_document_of_its_own(checks: DossierChecks) -> None:
    on_mortgage = request(checks, "identiteitsbewijs", subject=MORTGAGE)
    on_life = request(checks, "identiteitsbewijs", subject=LIFE)

    assert on_mortgage != on_life
    assert len(documents(checks)) == 2
    assert action_point_of(checks, on_life) is not None


def test_once_uploaded_the_same_type_may_be_requested_again(checks: DossierChecks) -> None:
    first = request(checks)
    checks.upload(UploadDocument(OFFICE, first, PASSPORT, "klant-1", LATER))

    # The old passport expired: the adviser asks for a new one.
    second = request(checks)

    assert second != first
    assert len(documents(checks)) == 2


# --- uploads and copies (way 1: the action point stays on the portal, completed) --------------


def test_uploading_completes_the_open_action_point(checks: DossierChecks) -> None:
    document_id = request(checks)

    # The client uploads the passport on the portal.
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", LATER))

    uploaded = document(checks, document_id)
    assert uploaded.status == "uploaded"
    assert uploaded.action_point.status == "completed"
    assert uploaded.action_point.completed_at == LATER
    (file,) = uploaded.files
    assert file == StoredFile(
        version=1, **PASSPORT, uploaded_at=LATER, uploaded_by="client:klant-1"
    )


def test_a_dossier_holds_uploads_up_to_its_quota(checks: DossierChecks) -> None:
    passport, payslip, statement = (
        request(checks, kind) for kind in ("identiteitsbewijs", "loonstrook", "bankafschrift")
    )
    quota = 2 * PASSPORT["size"] + 10  # type: ignore[operator]

    # Two files fit in the dossier's quota; a copy stores no new bytes and does not count.
    checks.upload(UploadDocument(OFFICE, passport, PASSPORT, "client:klant-1", LATER, quota=quota))
    checks.upload(
        UploadDocument(OFFICE, payslip, PASSPORT_BACK, "client:klant-1", LATER, quota=quota)
    )
    checks.copy(CopyDocument(OFFICE, statement, passport, "adviser:adviseur-1", LATER))
    assert checks.get_dossier_check(OFFICE, DOSSIER).uploaded_bytes() == 2 * PASSPORT["size"]

    # A third file would pass the quota: refused, and the document stays as it was.
    third = request(checks, "werkgeversverklaring")
    with pytest.raises(UploadQuotaExceeded, match="quota"):
        checks.upload(UploadDocument(OFFICE, third, PASSPORT, "client:klant-1", LATER, quota=quota))
    assert document(checks, third).status == "requested"


def test_a_second_upload_is_version_two(checks: DossierChecks) -> None:
    document_id = request(checks)
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", LATER))

    # The back of the passport was missing; the adviser uploads it too.
    next_day = LATER + timedelta(days=1)
    checks.upload(
        UploadDocument(OFFICE, document_id, PASSPORT_BACK, "adviser:adviseur-1", next_day)
    )

    files = document(checks, document_id).files
    assert [f.version for f in files] == [1, 2]
    assert files[-1].filename == "paspoort-achterkant.pdf"
    # The action point was completed by the first upload and stays so.
    point = action_point_of(checks, document_id)
    assert point is not None
    assert (point.status, point.completed_at) == ("completed", LATER)


def test_the_adviser_copies_an_uploaded_document_of_the_same_dossier(
    checks: DossierChecks,
) -> None:
    # The passport was uploaded for the mortgage ...
    on_mortgage = request(checks, "identiteitsbewijs", subject=MORTGAGE)
    checks.upload(UploadDocument(OFFICE, on_mortgage, PASSPORT, "client:klant-1", NOW))
    # ... and the life insurance asks for it as well.
    on_life = request(checks, "identiteitsbewijs", subject=LIFE)

    # The adviser clicks the copy icon and picks the mortgage's passport.
    checks.copy(CopyDocument(OFFICE, on_life, on_mortgage, "adviser:adviseur-1", LATER))

    copied = document(checks, on_life)
    assert copied.status == "uploaded"
    assert copied.files[-1].sha256 == PASSPORT["sha256"]
    assert copied.files[-1].version == 1
    assert copied.action_point.status == "completed"


def test_copying_from_a_document_without_an_upload_is_refused(checks: DossierChecks) -> None:
    nothing_yet = request(checks, "identiteitsbewijs", subject=MORTGAGE)
    target = request(checks, "identiteitsbewijs", subject=LIFE)

    with pytest.raises(NothingUploaded):
        checks.copy(CopyDocument(OFFICE, target, nothing_yet, "adviser:adviseur-1", LATER))
    assert document(checks, target).status == "requested"


def test_copying_from_another_dossier_is_refused(checks: DossierChecks) -> None:
    elsewhere = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, "dossier-2", elsewhere, MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )
    checks.upload(
        UploadDocument(OFFICE, document_id_for(elsewhere), PASSPORT, "client:klant-2", NOW)
    )
    target = request(checks)

    with pytest.raises(SourceDocumentNotFound):
        checks.copy(
            CopyDocument(OFFICE, target, document_id_for(elsewhere), "adviser:adviseur-1", LATER)
        )


# --- way 2: the action point leaves the portal --------------------------------------------------


def test_removing_the_document_takes_its_action_point_with_it(checks: DossierChecks) -> None:
    document_id = request(checks, "finale_kwijting")
    action_point_id = action_point_id_for_document(checks, document_id)

    # The adviser clicks the cross next to the document in the dossier check.
    checks.remove_document(RemoveDocument(OFFICE, document_id, "adviser:adviseur-1", LATER))

    assert documents(checks) == []
    with pytest.raises(DocumentNotFound):
        document(checks, document_id)
    check = checks.get_dossier_check(OFFICE, DOSSIER)
    assert check.documents[str(document_id)].action_point.status == "removed"
    with pytest.raises(ActionPointNotFound):
        checks.remove_action_point(
            RemoveActionPoint(OFFICE, action_point_id, "adviser:adviseur-1", LATER)
        )


def test_a_document_with_an_upload_cannot_be_removed(checks: DossierChecks) -> None:
    document_id = request(checks)
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", NOW))

    with pytest.raises(DocumentHasUpload):
        checks.remove_document(RemoveDocument(OFFICE, document_id, "adviser:adviseur-1", LATER))
    assert document(checks, document_id).status == "uploaded"


def test_removing_only_the_action_point_keeps_the_document(checks: DossierChecks) -> None:
    document_id = request(checks)
    action_point_id = action_point_id_for_document(checks, document_id)

    # Under "Actiepunten voor klant" the adviser clicks the cross: they have the ID already.
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id, "adviser:adviseur-1", LATER)
    )

    # The document is still requested in the dossier check, without a client task.
    (kept,) = documents(checks)
    assert kept.document_id == document_id
    assert kept.status == "requested"
    assert kept.action_point.status == "removed"
    # Removing it a second time: there is no such action point any more.
    with pytest.raises(ActionPointNotFound):
        checks.remove_action_point(
            RemoveActionPoint(OFFICE, action_point_id, "adviser:adviseur-1", LATER)
        )


def test_a_document_whose_action_point_was_removed_can_still_be_uploaded_and_removed(
    checks: DossierChecks,
) -> None:
    kept = request(checks, "identiteitsbewijs")
    dropped = request(checks, "finale_kwijting")
    for document_id in (kept, dropped):
        action_point_id = action_point_id_for_document(checks, document_id)
        checks.remove_action_point(
            RemoveActionPoint(OFFICE, action_point_id, "adviser:adviseur-1", NOW)
        )

    checks.upload(UploadDocument(OFFICE, kept, PASSPORT, "adviser:adviseur-1", LATER))
    checks.remove_document(RemoveDocument(OFFICE, dropped, "adviser:adviseur-1", LATER))

    assert document(checks, kept).status == "uploaded"
    # The removed action point does not come back as completed.
    assert document(checks, kept).action_point.status == "removed"
    assert [d.document_id for d in documents(checks)] == [kept]


def test_a_republished_request_does_not_bring_back_what_the_adviser_removed(
    checks: DossierChecks,
) -> None:
    removed_document, removed_point = uuid4(), uuid4()
    for request_id, document_type in (
        (removed_document, "finale_kwijting"),
        (removed_point, "identiteitsbewijs"),
    ):
        checks.add_requested_document(
            AddRequestedDocument(
                OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, None, NOW
            )
        )
    # The adviser removes the discharge document, and only the ID's action point.
    checks.remove_document(
        RemoveDocument(OFFICE, document_id_for(removed_document), "adviser:a-1", NOW)
    )
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id_for(removed_point), "adviser:a-1", NOW)
    )

    # The scenario service's outbox republishes both requests after a crash.
    for request_id, document_type in (
        (removed_document, "finale_kwijting"),
        (removed_point, "identiteitsbewijs"),
    ):
        assert (
            checks.add_requested_document(
                AddRequestedDocument(
                    OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, None, LATER
                )
            )
            is None
        )

    # The discharge stays gone and the ID stays without a client task.
    (kept,) = documents(checks)
    assert kept.document_type == "identiteitsbewijs"
    assert kept.action_point.status == "removed"


# --- offices do not see each other's dossiers ---------------------------------------------------


def test_another_office_cannot_find_or_touch_this_offices_documents(checks: DossierChecks) -> None:
    document_id = request(checks)
    action_point_id = action_point_id_for_document(checks, document_id)

    # Located by this office, not by another.
    located = checks.locate(OFFICE, document_id)
    assert located is not None and located.dossier_id == DOSSIER
    assert checks.locate(OFFICE, action_point_id) is not None
    assert checks.locate(OTHER_OFFICE, document_id) is None
    assert checks.locate(OTHER_OFFICE, action_point_id) is None

    # Their commands find nothing ...
    with pytest.raises(DocumentNotFound):
        checks.upload(UploadDocument(OTHER_OFFICE, document_id, PASSPORT, "client:x", LATER))
    with pytest.raises(DocumentNotFound):
        checks.remove_document(RemoveDocument(OTHER_OFFICE, document_id, "adviser:x", LATER))
    with pytest.raises(ActionPointNotFound):
        checks.remove_action_point(
            RemoveActionPoint(OTHER_OFFICE, action_point_id, "adviser:x", LATER)
        )
    # ... their dossier of the same id is empty, and ours is unchanged.
    assert documents(checks, tenant=OTHER_OFFICE) == []
    assert document(checks, document_id).status == "requested"
    assert document(checks, document_id).action_point.status == "open"


def test_an_upload_the_caller_may_not_make_is_refused_as_not_found(checks: DossierChecks) -> None:
    document_id = request(checks)

    # A client of another dossier of the same office tries to upload.
    with pytest.raises(DocumentNotFound):
        checks.upload(
            UploadDocument(
                OFFICE,
                document_id,
                PASSPORT,
                "client:klant-2",
                LATER,
                visible=lambda d: d != DOSSIER,
            )
        )
    assert document(checks, document_id).status == "requested"


# --- the adviser's review (SPEC section 6) ---------------------------------------------------


def review(
    app: DossierChecks, document_id: UUID, decision: str, reason: str | None = None
) -> Document:
    check = app.review(
        ReviewDocument(OFFICE, document_id, decision, reason, "adviser:adviseur-1", LATER)  # type: ignore[arg-type]
    )
    return check.document(document_id)


def test_a_rejection_reopens_the_task_with_the_reason_and_keeps_the_file(
    checks: DossierChecks,
) -> None:
    document_id = request(checks)
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", NOW))

    # The back of the passport is missing: the adviser rejects it with the reason.
    rejected = review(checks, document_id, "reject", "  De achterkant ontbreekt ")

    assert (rejected.status, rejected.rejection_reason) == ("rejected", "De achterkant ontbreekt")
    assert rejected.action_point is not None
    assert (rejected.action_point.status, rejected.action_point.completed_at) == ("open", None)
    assert [f.filename for f in rejected.files] == ["paspoort.pdf"]  # kept for the audit trail

    # The client delivers again: uploaded, the task completed, the reason gone.
    next_day = LATER + timedelta(days=1)
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT_BACK, "client:klant-1", next_day))
    again = document(checks, document_id)
    assert (again.status, again.rejection_reason, len(again.files)) == ("uploaded", None, 2)
    assert again.action_point is not None
    assert (again.action_point.status, again.action_point.completed_at) == ("completed", next_day)

    # The adviser approves the second version; the task stays completed.
    approved = review(checks, document_id, "approve")
    assert approved.status == "approved"
    assert approved.action_point is not None and approved.action_point.status == "completed"


def test_a_rejection_needs_a_reason_and_something_delivered(checks: DossierChecks) -> None:
    document_id = request(checks)
    with pytest.raises(MoveRefused):
        review(checks, document_id, "approve")  # nothing to review yet
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", NOW))

    for blank in (None, "", "   "):
        with pytest.raises(ReasonRequired) as refused:
            review(checks, document_id, "reject", blank)
        assert refused.value.status == 422
    assert document(checks, document_id).status == "uploaded"


def test_a_rejection_does_not_bring_back_a_task_the_adviser_removed(
    checks: DossierChecks,
) -> None:
    document_id = request(checks)
    action_point_id = action_point_id_for_document(checks, document_id)
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id, "adviser:adviseur-1", NOW)
    )
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "adviser:adviseur-1", NOW))

    rejected = review(checks, document_id, "reject", "Verlopen paspoort")

    assert rejected.status == "rejected"
    assert rejected.action_point is not None and rejected.action_point.status == "removed"


def test_a_new_request_of_a_rejected_type_is_merged_into_it(checks: DossierChecks) -> None:
    document_id = request(checks)
    checks.upload(UploadDocument(OFFICE, document_id, PASSPORT, "client:klant-1", NOW))
    review(checks, document_id, "reject", "Onleesbaar")

    # Another scenario asks for the ID: the client still has one task for it.
    request(checks)

    assert [d.document_id for d in documents(checks)] == [document_id]


def test_the_office_chooses_what_the_clients_progress_counts(checks: DossierChecks) -> None:
    assert checks.get_progress_counts(OFFICE) == "received"  # until the office chooses

    checks.choose_progress_counts(
        ChooseProgressCounts(OFFICE, ProgressCounts.APPROVED, "beheerder-1")
    )

    assert checks.get_progress_counts(OFFICE) == "approved"
    assert checks.get_progress_counts(OTHER_OFFICE) == "received"
