"""Each vocabulary is defined once; where two rooms must spell it alike (a service's domain and
the contracts, the portal's read model and the dossier check), these tests tie them."""

from __future__ import annotations

from typing import Any, get_args

from servicekit.domain import SubjectKind
from services.dossiercontrole_service.domainmodel import (
    ACTION_POINT_MOVES,
    AWAITING_CLIENT,
    AWAITING_DELIVERY,
    DOCUMENT_MOVES,
    ActionPointCommand,
    ActionPointStatus,
    DocumentCommand,
    DocumentStatus,
    Outcome,
    ProgressCounts,
)
from services.portal_projection import stores
from services.portal_projection.http import PortalActionPoint, WorkItem
from services.portal_projection.views import DONE_WHEN
from services.portal_projection.web.labels import PERSON_LABELS
from services.scenario_service.domainmodel import TriggerEvent
from services.scenario_service.household import PersonRole
from shared.events import contracts as c


def _literal(annotation: Any) -> set[str]:
    return set(get_args(annotation))


def test_the_scenario_domain_and_the_contracts_name_the_same_triggers_and_subjects() -> None:
    assert {t.value for t in TriggerEvent} == _literal(c.TriggerName)
    assert {k.value for k in SubjectKind} == _literal(c.SubjectType)


def test_a_household_names_its_persons_alike_in_the_contracts_the_domain_and_the_pages() -> None:
    assert {r.value for r in PersonRole} == _literal(c.PersonRole) == set(PERSON_LABELS)


def test_what_progress_counts_is_one_vocabulary_in_the_contracts_the_domain_and_the_portal() -> (
    None
):
    assert {p.value for p in ProgressCounts} == _literal(c.ProgressCountsName) == set(DONE_WHEN)


def test_a_dossier_outcome_is_one_vocabulary_in_the_contracts_and_the_domain() -> None:
    assert {o.value for o in Outcome} == _literal(c.DossierOutcome)


def test_the_portal_spells_statuses_as_the_dossier_check_does() -> None:
    fields = PortalActionPoint.model_fields
    assert _literal(fields["document_status"].annotation) == {s.value for s in DocumentStatus}
    assert _literal(WorkItem.model_fields["status"].annotation) == {s.value for s in DocumentStatus}
    shown = {s.value for s in ActionPointStatus if s is not ActionPointStatus.REMOVED}
    assert _literal(fields["status"].annotation) == shown
    # What counts as done is a completed action point, and for ``approved`` an approved (or a
    # waived: not applicable) document.
    for row in DONE_WHEN.values():
        assert row["status"] == (ActionPointStatus.COMPLETED,)
        assert set(row.get("document_status", ())) <= {
            DocumentStatus.APPROVED,
            DocumentStatus.WAIVED,
        }


def test_the_status_sets_are_read_from_the_move_tables() -> None:
    # Awaiting delivery: a delivery moves the document on (requested, rejected, claimed "not
    # applicable" and not yet decided), not an uploaded one, which only gets another version.
    assert {
        DocumentStatus.REQUESTED,
        DocumentStatus.REJECTED,
        DocumentStatus.NOT_APPLICABLE_CLAIMED,
    } == AWAITING_DELIVERY
    for status in AWAITING_DELIVERY:
        move = DOCUMENT_MOVES[(status, DocumentCommand.UPLOAD)]
        assert move.becomes is DocumentStatus.UPLOADED
        assert move.action_point is ActionPointCommand.COMPLETE
    # Awaiting the client (reminded, overdue, listed as open items): what a delivery completes.
    assert {ActionPointStatus.OPEN} == AWAITING_CLIENT
    assert all(
        (status, ActionPointCommand.COMPLETE) in ACTION_POINT_MOVES for status in AWAITING_CLIENT
    )


def test_the_work_queue_reads_its_statuses_as_the_dossier_check_moves_documents() -> None:
    def moved_by(command: DocumentCommand) -> set[str]:
        return {status.value for status, by in DOCUMENT_MOVES if by is command}

    # A delivery moves these (any other is refused); a review, those; an expiry, those.
    assert set(stores.DELIVERABLE) == moved_by(DocumentCommand.UPLOAD)
    reviewed = moved_by(DocumentCommand.APPROVE) | moved_by(DocumentCommand.WAIVE)
    assert set(stores.REVIEWABLE) == reviewed == moved_by(DocumentCommand.REJECT)
    assert set(stores.EXPIRABLE) == moved_by(DocumentCommand.EXPIRE)


def test_the_notification_service_names_kinds_and_salutations_as_the_contracts_do() -> None:
    from services.notification_service.domainmodel import Kind, Salutation

    assert {k.value for k in Kind} == _literal(c.NotificationKind)
    assert {s.value for s in Salutation} == _literal(c.Salutation)
