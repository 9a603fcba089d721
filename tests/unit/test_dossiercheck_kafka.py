"""What the dossier check publishes of what it stores, and how it takes in requested documents."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ConfigureDocumentType,
    CopyDocument,
    DossierChecks,
    RemoveActionPoint,
    RemoveDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import action_point_id_for, document_id_for
from services.scenario_service import kafka as scenario_kafka
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import action_point_rule, decode, encode, new_event
from tests.unit.kafka_edge import DOSSIER, MORTGAGE, NOW, OFFICE, Outbox, types

LATER = NOW + timedelta(hours=2)
PASSPORT = {
    "sha256": "a" * 64,
    "size": 52_133,
    "content_type": "application/pdf",
    "filename": "paspoort.pdf",
}


# --- dossiercontrole_service: translate ---------------------------------------------------------


def test_a_requested_document_publishes_the_document_and_its_action_point(
    checks: DossierChecks,
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    request_id = uuid4()

    checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )

    added, opened = outbox.new()
    assert isinstance(added, c.DocumentAdded)
    assert added.data == c.DocumentAddedData(
        document_id=document_id_for(request_id),
        request_id=request_id,
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
    )
    assert isinstance(opened, c.ActionPointOpened)
    assert opened.data == c.ActionPointOpenedData(
        action_point_id=action_point_id_for(request_id),
        document_id=document_id_for(request_id),
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
        opened_at=NOW,
    )
    for event in (added, opened):
        assert (event.tenantid, event.dossierid) == (OFFICE, DOSSIER)
        assert event.source == "actiepunten/dossiercontrole_service"
        assert event.subject == str(document_id_for(request_id))


def test_a_merged_request_publishes_an_action_point_only_when_it_asks_for_one(
    checks: DossierChecks,
) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    (configured,) = outbox.new()
    assert configured.data == c.DocumentTypeConfiguredData(
        code="finale_kwijting", name="Finale kwijting", creates_action_point=False
    )
    assert (configured.tenantid, configured.dossierid) == (OFFICE, None)

    first = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, first, MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    assert types(outbox.new()) == ["DocumentAdded"]

    # A second request by the type's setting: nothing new for anyone.
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, uuid4(), MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    assert outbox.new() == []

    # A third asks for a task: the open document gets it, and the portal hears of it.
    later = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, later, MORTGAGE, "finale_kwijting", None, True, LATER)
    )
    (opened,) = outbox.new()
    assert isinstance(opened, c.ActionPointOpened)
    assert opened.data == c.ActionPointOpenedData(
        action_point_id=action_point_id_for(later),
        document_id=document_id_for(first),
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="finale_kwijting",
        title="Finale kwijting",
        opened_at=LATER,
    )
    assert (opened.tenantid, opened.dossierid) == (OFFICE, DOSSIER)
    assert opened.subject == str(document_id_for(first))


def test_uploads_publish_the_file_and_complete_the_action_point_once(
    checks: DossierChecks,
) -> None:
    on_mortgage, on_life = uuid4(), uuid4()
    life = {"type": "product", "id": "lv-1", "scope": "levensverzekering"}
    for request_id, subject in ((on_mortgage, MORTGAGE), (on_life, life)):
        checks.add_requested_document(
            AddRequestedDocument(
                OFFICE, DOSSIER, request_id, subject, "identiteitsbewijs", None, None, NOW
            )
        )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    outbox.new()

    # The client uploads the passport for the mortgage.
    later = NOW + timedelta(hours=1)
    checks.upload(
        UploadDocument(OFFICE, document_id_for(on_mortgage), PASSPORT, "client:klant-1", later)
    )
    uploaded, completed = outbox.new()
    assert uploaded.data == c.DocumentUploadedData(
        document_id=document_id_for(on_mortgage),
        dossier_id=DOSSIER,
        version=1,
        file=c.FileMetadata.model_validate(PASSPORT),
        uploaded_by="client:klant-1",
    )
    assert completed.data == c.ActionPointCompletedData(
        action_point_id=action_point_id_for(on_mortgage),
        document_id=document_id_for(on_mortgage),
        dossier_id=DOSSIER,
        completed_at=later,
    )

    # A second version completes nothing new.
    checks.upload(
        UploadDocument(OFFICE, document_id_for(on_mortgage), PASSPORT, "client:klant-1", later)
    )
    (second,) = outbox.new()
    assert isinstance(second, c.DocumentUploaded)
    assert second.data.version == 2

    # The adviser copies it to the life insurance's request.
    checks.copy(
        CopyDocument(
            OFFICE, document_id_for(on_life), document_id_for(on_mortgage), "adviser:a-1", later
        )
    )
    copied, copy_completed = outbox.new()
    assert copied.data.copied_from == document_id_for(on_mortgage)
    assert copied.data.file == c.FileMetadata.model_validate(PASSPORT)
    assert copied.data.uploaded_by == "adviser:a-1"
    assert copy_completed.data.action_point_id == action_point_id_for(on_life)


def test_both_removal_paths_are_visible_as_events(checks: DossierChecks) -> None:
    goes, stays = uuid4(), uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, goes, MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, stays, MORTGAGE, "identiteitsbewijs", None, None, NOW)
    )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    outbox.new()
    later = NOW + timedelta(hours=1)

    # Way 2a: the adviser removes the final discharge from the dossier check.
    checks.remove_document(RemoveDocument(OFFICE, document_id_for(goes), "adviser:a-1", later))
    removed, point_removed = outbox.new()
    assert removed.data == c.DocumentRemovedData(
        document_id=document_id_for(goes), dossier_id=DOSSIER, removed_by="adviser:a-1"
    )
    assert point_removed.data == c.ActionPointRemovedData(
        action_point_id=action_point_id_for(goes),
        document_id=document_id_for(goes),
        dossier_id=DOSSIER,
        reason="document_removed",
        removed_at=later,
    )

    # Way 2b: they remove only the identity document's action point.
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id_for(stays), "adviser:a-1", later)
    )
    (only_point,) = outbox.new()
    assert isinstance(only_point, c.ActionPointRemoved)
    assert only_point.data.reason == "removed_by_adviser"
    assert only_point.data.document_id == document_id_for(stays)

    # Removing that document afterwards removes no action point a second time.
    checks.remove_document(RemoveDocument(OFFICE, document_id_for(stays), "adviser:a-1", later))
    assert types(outbox.new()) == ["DocumentRemoved"]


def test_republishing_the_dossier_log_gives_the_same_event_ids(checks: DossierChecks) -> None:
    request_id = uuid4()
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "identiteitsbewijs", "ID-bewijs", True, "admin-1")
    )
    checks.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )
    checks.upload(
        UploadDocument(OFFICE, document_id_for(request_id), PASSPORT, "client:klant-1", NOW)
    )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))

    first, again = outbox.all(), outbox.all()

    assert first == again
    assert len({e.id for e in first}) == len(first) == 5


def test_every_stored_event_of_the_dossier_check_is_mapped_or_silent_on_purpose() -> None:
    from services.dossiercontrole_service.domainmodel import (
        AccessLog,
        DocumentTypes,
        DossierCheck,
        FileUsers,
        Locator,
        PortalSettings,
        ReminderSchedule,
        RetentionPolicy,
    )

    aggregates = (DossierCheck, DocumentTypes, Locator, PortalSettings, ReminderSchedule, AccessLog)
    aggregates += (RetentionPolicy, FileUsers)
    assert dossiercontrole_kafka.OUTBOX.unmapped(*aggregates) == []


# --- dossiercontrole_service: handlers ----------------------------------------------------------


def document_requested(
    request_id: UUID, document_type: str = "identiteitsbewijs", action_point: bool | None = None
) -> c.CloudEvent:
    event = new_event(
        c.DocumentRequested,
        {
            "request_id": request_id,
            "dossier_id": DOSSIER,
            "subject": MORTGAGE,
            "document_type": document_type,
            "action_point": action_point_rule(action_point),
            "source": "scenario",
            "requested_by": "adviseur-1",
        },
        source=scenario_kafka.SOURCE,
        tenant=OFFICE,
        dossier=DOSSIER,
    )
    return decode(topics.SCENARIO, encode(event))


def test_a_document_requested_on_the_scenario_topic_lands_in_the_dossier_check(
    checks: DossierChecks,
) -> None:
    handle = dossiercontrole_kafka.handlers(checks, now=lambda: NOW)["DocumentRequested"]
    request_id = uuid4()

    handle(document_requested(request_id), Tracking("actiepunten.scenario.v1:1", 1))

    (document,) = checks.get_dossier_check(OFFICE, DOSSIER).current_documents()
    assert document.document_id == document_id_for(request_id)
    assert document.action_point is not None and document.action_point.status == "open"
    assert document.created_at == NOW
    assert checks.max_tracking_id("actiepunten.scenario.v1:1") == 1


def test_only_document_requests_are_handled_by_the_dossier_check(checks: DossierChecks) -> None:
    # The other scenario events are skipped by the consumer (their positions still recorded).
    assert set(dossiercontrole_kafka.handlers(checks)) == {"DocumentRequested"}


def test_a_dossier_handler_given_a_recorded_position_changes_nothing(
    checks: DossierChecks,
) -> None:
    handle = dossiercontrole_kafka.handlers(checks, now=lambda: NOW)["DocumentRequested"]
    handle(document_requested(uuid4()), Tracking("actiepunten.scenario.v1:1", 5))
    head = checks.recorder.max_notification_id()

    # A different request arrives under a position that was recorded already.
    with pytest.raises(IntegrityError):
        handle(
            document_requested(uuid4(), "werkgeversverklaring"),
            Tracking("actiepunten.scenario.v1:1", 5),
        )

    assert checks.recorder.max_notification_id() == head
    assert [
        d.document_type for d in checks.get_dossier_check(OFFICE, DOSSIER).documents.values()
    ] == ["identiteitsbewijs"]
