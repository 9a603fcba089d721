"""Story of a dossier's closing and reopening (SPEC section 11), in process: the dossier check
refuses what a closed dossier may not do, publishes what happened, and the client portal,
rebuilt from what was published, shows it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
    RemindNow,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    DossierIsClosed,
    DossierIsOpen,
    Outcome,
    action_point_id_for,
    document_id_for,
)
from services.dossiercontrole_service.lifecycle import (
    CloseDossier,
    DossierNotFound,
    ReopenDossier,
)
from services.portal_projection import kafka as portal_kafka
from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events import topics
from tests.unit.kafka_edge import DOSSIER, MORTGAGE, NOW, OFFICE, Outbox

LATER = NOW + timedelta(days=1)
ADVISER = "adviser:a1"
PDF = {"sha256": "a" * 64, "size": 10, "content_type": "application/pdf", "filename": "id.pdf"}


def request(checks: DossierChecks, document_type: str) -> tuple[UUID, str]:
    """A request for the document with an action point: its document id and point id."""
    request_id = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, True, NOW)
    )
    return document_id_for(request_id), str(action_point_id_for(request_id))


def test_closing_removes_the_open_action_points_and_reopening_brings_them_back(
    checks: DossierChecks, view: PortalView
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    portal = portal_kafka.handlers(view)
    position = 0

    def project() -> list[c.CloudEvent]:
        nonlocal position
        events = outbox.new()
        for event in events:
            position += 1
            if event.type in portal:
                portal[event.type](event, Tracking(topics.DOSSIERCONTROLE + ":0", position))
        return events

    # Two documents are asked; the client delivers the ID.
    id_card, id_point = request(checks, "identiteitsbewijs")
    _, payslip_point = request(checks, "loonstrook")
    _, statement_point = request(checks, "bankafschrift")
    checks.upload(UploadDocument(OFFICE, id_card, PDF, ADVISER, NOW))
    project()

    # The client withdraws: the adviser closes the dossier.
    closed = checks.close_dossier(CloseDossier(OFFICE, DOSSIER, Outcome.WITHDRAWN, ADVISER, LATER))
    assert closed.closed and closed.outcome == "withdrawn"
    events = project()
    assert [e.type for e in events] == ["DossierClosed", "ActionPointRemoved", "ActionPointRemoved"]
    assert events[0].data.outcome == "withdrawn" and events[0].data.closed_at == LATER
    removed = {str(e.data.action_point_id): e.data.reason for e in events[1:]}
    assert removed == {payslip_point: "dossier_closed", statement_point: "dossier_closed"}
    shown = {p["action_point_id"]: p["status"] for p in view.action_points(OFFICE, DOSSIER)}
    assert shown == {id_point: "completed"}

    # A closed dossier takes nothing more: a second closing, a request, an upload, a reminder.
    with pytest.raises(DossierIsClosed, match="closed \\(withdrawn\\)"):
        checks.close_dossier(CloseDossier(OFFICE, DOSSIER, Outcome.COMPLETED, ADVISER, LATER))
    with pytest.raises(DossierIsClosed):
        request(checks, "werkgeversverklaring")
    with pytest.raises(DossierIsClosed):
        checks.upload(UploadDocument(OFFICE, id_card, PDF, ADVISER, LATER))
    with pytest.raises(DossierIsClosed):
        checks.remind_now(RemindNow(OFFICE, UUID(payslip_point), ADVISER, LATER))

    # The client comes back: the adviser reopens, and the two tasks are open again.
    reopened = checks.reopen_dossier(ReopenDossier(OFFICE, DOSSIER, ADVISER, LATER))
    assert not reopened.closed
    events = project()
    assert [e.type for e in events] == ["DossierReopened"]
    assert {str(i) for i in events[0].data.restored_action_point_ids} == {
        payslip_point,
        statement_point,
    }
    shown = {p["action_point_id"]: p["status"] for p in view.action_points(OFFICE, DOSSIER)}
    assert shown == {id_point: "completed", payslip_point: "open", statement_point: "open"}
    assert {p.status for _, p in checks.get_dossier_check(OFFICE, DOSSIER).open_points()} == {
        "open"
    }

    # Reopening an open dossier is refused; a dossier nobody asked anything in is not found.
    with pytest.raises(DossierIsOpen, match="is not closed"):
        checks.reopen_dossier(ReopenDossier(OFFICE, DOSSIER, ADVISER, LATER))
    with pytest.raises(DossierNotFound):
        checks.close_dossier(CloseDossier(OFFICE, "elsewhere", Outcome.DECLINED, ADVISER, LATER))
    with pytest.raises(DossierNotFound):
        checks.close_dossier(
            CloseDossier("other-office", DOSSIER, Outcome.DECLINED, ADVISER, LATER)
        )
