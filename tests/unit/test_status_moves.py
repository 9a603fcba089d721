"""The status moves of the dossier check (SPEC section 6), as a table: every status on every
command, allowed or refused. A new status or command without its rows here fails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import product
from uuid import uuid4

import pytest

from servicekit.domain import Conflict
from services.dossiercontrole_service.domainmodel import (
    ActionPoint,
    ActionPointCommand,
    ActionPointNotFound,
    ActionPointStatus,
    DocumentCommand,
    DocumentStatus,
    DossierCheck,
    MoveRefused,
    NotOpen,
    document_id_for,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
PDF = {"sha256": "a" * 64, "size": 100, "content_type": "application/pdf", "filename": "id.pdf"}
REFUSED = "refused"
GONE = "gone"

# (document status, command) -> (what the document becomes, what its open task becomes)
DOCUMENT_EXPECTED: dict[
    tuple[DocumentStatus, DocumentCommand], tuple[DocumentStatus | str, ActionPointStatus] | str
] = {
    (DocumentStatus.REQUESTED, DocumentCommand.UPLOAD): (
        DocumentStatus.UPLOADED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.UPLOADED, DocumentCommand.UPLOAD): (
        DocumentStatus.UPLOADED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.REQUESTED, DocumentCommand.REMOVE): (GONE, ActionPointStatus.REMOVED),
    (DocumentStatus.UPLOADED, DocumentCommand.REMOVE): REFUSED,
    # The review: nothing to review before an upload.
    (DocumentStatus.REQUESTED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.REQUESTED, DocumentCommand.REJECT): REFUSED,
    (DocumentStatus.UPLOADED, DocumentCommand.APPROVE): (
        DocumentStatus.APPROVED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.UPLOADED, DocumentCommand.REJECT): (
        DocumentStatus.REJECTED,
        ActionPointStatus.OPEN,
    ),
    # An approved document is final until it expires.
    (DocumentStatus.APPROVED, DocumentCommand.UPLOAD): REFUSED,
    (DocumentStatus.APPROVED, DocumentCommand.REMOVE): REFUSED,
    (DocumentStatus.APPROVED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.APPROVED, DocumentCommand.REJECT): REFUSED,
    # A rejected document waits for the client's next upload.
    (DocumentStatus.REJECTED, DocumentCommand.UPLOAD): (
        DocumentStatus.UPLOADED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.REJECTED, DocumentCommand.REMOVE): REFUSED,
    (DocumentStatus.REJECTED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.REJECTED, DocumentCommand.REJECT): REFUSED,
    # An expired document takes no command (SPEC 6: review of an expired one is a 409).
    (DocumentStatus.EXPIRED, DocumentCommand.UPLOAD): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.REMOVE): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.REJECT): REFUSED,
    # The end of the validity window: only a delivered document expires, and only once; nothing
    # moves out of expired (removing only its action point stays possible, below).
    (DocumentStatus.REQUESTED, DocumentCommand.EXPIRE): REFUSED,
    (DocumentStatus.UPLOADED, DocumentCommand.EXPIRE): (
        DocumentStatus.EXPIRED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.APPROVED, DocumentCommand.EXPIRE): (
        DocumentStatus.EXPIRED,
        ActionPointStatus.COMPLETED,
    ),
    # A rejected document is to be delivered again: its old window no longer counts.
    (DocumentStatus.REJECTED, DocumentCommand.EXPIRE): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.EXPIRE): REFUSED,
    # "Not applicable" (SPEC section 9): only a document whose task is open may be claimed;
    # the claim completes the task for now.
    (DocumentStatus.REQUESTED, DocumentCommand.CLAIM_NOT_APPLICABLE): (
        DocumentStatus.NOT_APPLICABLE_CLAIMED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.REJECTED, DocumentCommand.CLAIM_NOT_APPLICABLE): (
        DocumentStatus.NOT_APPLICABLE_CLAIMED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.UPLOADED, DocumentCommand.CLAIM_NOT_APPLICABLE): REFUSED,
    (DocumentStatus.APPROVED, DocumentCommand.CLAIM_NOT_APPLICABLE): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.CLAIM_NOT_APPLICABLE): REFUSED,
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.CLAIM_NOT_APPLICABLE): REFUSED,
    (DocumentStatus.WAIVED, DocumentCommand.CLAIM_NOT_APPLICABLE): REFUSED,
    # Waiving decides a claim, and nothing else.
    (DocumentStatus.REQUESTED, DocumentCommand.WAIVE): REFUSED,
    (DocumentStatus.UPLOADED, DocumentCommand.WAIVE): REFUSED,
    (DocumentStatus.APPROVED, DocumentCommand.WAIVE): REFUSED,
    (DocumentStatus.REJECTED, DocumentCommand.WAIVE): REFUSED,
    (DocumentStatus.EXPIRED, DocumentCommand.WAIVE): REFUSED,
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.WAIVE): (
        DocumentStatus.WAIVED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.WAIVED, DocumentCommand.WAIVE): REFUSED,
    # A claim waits for the adviser: refused (a rejection) the task opens again; a file
    # delivered meanwhile delivers the document.
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.UPLOAD): (
        DocumentStatus.UPLOADED,
        ActionPointStatus.COMPLETED,
    ),
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.REJECT): (
        DocumentStatus.REJECTED,
        ActionPointStatus.OPEN,
    ),
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.REMOVE): REFUSED,
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.EXPIRE): REFUSED,
    # A waived document is final.
    (DocumentStatus.WAIVED, DocumentCommand.UPLOAD): REFUSED,
    (DocumentStatus.WAIVED, DocumentCommand.REMOVE): REFUSED,
    (DocumentStatus.WAIVED, DocumentCommand.APPROVE): REFUSED,
    (DocumentStatus.WAIVED, DocumentCommand.REJECT): REFUSED,
    (DocumentStatus.WAIVED, DocumentCommand.EXPIRE): REFUSED,
}

# (action point status, command) -> what it becomes; None: it stays as it is.
ACTION_POINT_EXPECTED: dict[
    tuple[ActionPointStatus, ActionPointCommand], ActionPointStatus | None
] = {
    (ActionPointStatus.OPEN, ActionPointCommand.COMPLETE): ActionPointStatus.COMPLETED,
    (ActionPointStatus.OPEN, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.COMPLETED, ActionPointCommand.COMPLETE): None,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.REMOVED, ActionPointCommand.COMPLETE): None,
    (ActionPointStatus.REMOVED, ActionPointCommand.REMOVE): None,
    (ActionPointStatus.OPEN, ActionPointCommand.REOPEN): None,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REOPEN): ActionPointStatus.OPEN,
    (ActionPointStatus.REMOVED, ActionPointCommand.REOPEN): None,  # a removed task stays removed
    # Only the reopening of a closed dossier restores what its closing removed (SPEC section 11).
    (ActionPointStatus.OPEN, ActionPointCommand.RESTORE): None,
    (ActionPointStatus.COMPLETED, ActionPointCommand.RESTORE): None,
    (ActionPointStatus.REMOVED, ActionPointCommand.RESTORE): ActionPointStatus.OPEN,
}


def requested() -> DossierCheck:
    check = DossierCheck("kantoor-1", "dossier-1")
    check.request_document(uuid4(), MORTGAGE, "identiteitsbewijs", "ID", True, NOW)
    return check


def uploaded() -> DossierCheck:
    check = requested()
    (document,) = check.current_documents()
    check.upload(document.document_id, PDF, "client:klant-1", NOW, valid_for="PT30M")
    return check


def expired() -> DossierCheck:
    check = uploaded()
    (document,) = check.current_documents()
    check.expire(document.document_id, LATER, rerequest=False, with_action_point=True)
    return check


def approved() -> DossierCheck:
    check = uploaded()
    (document,) = check.current_documents()
    check.approve(document.document_id, "adviser:a-1", NOW)
    return check


def rejected() -> DossierCheck:
    check = uploaded()
    (document,) = check.current_documents()
    check.reject(document.document_id, "Onleesbaar", "adviser:a-1", NOW)
    return check


def claimed() -> DossierCheck:
    check = requested()
    (document,) = check.current_documents()
    assert document.action_point is not None
    check.claim_not_applicable(
        document.action_point.action_point_id, "Nooit gehad", "client:klant-1", NOW
    )
    return check


def waived() -> DossierCheck:
    check = claimed()
    (document,) = check.current_documents()
    check.waive(document.document_id, "adviser:a-1", NOW)
    return check


# How a dossier check with one document in each status comes about.
IN_STATUS: dict[DocumentStatus, Callable[[], DossierCheck]] = {
    DocumentStatus.REQUESTED: requested,
    DocumentStatus.UPLOADED: uploaded,
    DocumentStatus.APPROVED: approved,
    DocumentStatus.REJECTED: rejected,
    DocumentStatus.EXPIRED: expired,
    DocumentStatus.NOT_APPLICABLE_CLAIMED: claimed,
    DocumentStatus.WAIVED: waived,
}


def run(check: DossierCheck, command: DocumentCommand) -> None:
    (document,) = check.current_documents()
    if command is DocumentCommand.UPLOAD:
        check.upload(document.document_id, PDF, "adviser:a-1", LATER)
    elif command is DocumentCommand.REMOVE:
        check.remove_document(document.document_id, "adviser:a-1", LATER)
    elif command is DocumentCommand.APPROVE:
        check.approve(document.document_id, "adviser:a-1", LATER)
    elif command is DocumentCommand.REJECT:
        check.reject(document.document_id, "Onleesbaar", "adviser:a-1", LATER)
    elif command is DocumentCommand.EXPIRE:
        # The clock refuses nothing: a document that is not to expire stays as it is.
        if (
            check.expire(document.document_id, LATER, rerequest=False, with_action_point=True)
            is None
        ):
            raise MoveRefused("nothing to expire")
    elif command is DocumentCommand.CLAIM_NOT_APPLICABLE:
        assert document.action_point is not None
        point = document.action_point.action_point_id
        try:
            check.claim_not_applicable(point, "Niet van toepassing", "client:klant-1", LATER)
        except NotOpen as refused:  # a task that is not open takes no claim: a 409 as well
            raise MoveRefused(str(refused)) from None
    elif command is DocumentCommand.WAIVE:
        check.waive(document.document_id, "adviser:a-1", LATER)
    else:  # pragma: no cover - a new command needs its way here
        raise AssertionError(f"no way to run {command}")


@pytest.mark.parametrize(
    ("status", "command"),
    list(product(DocumentStatus, DocumentCommand)),
    ids=lambda value: str(value),
)
def test_every_document_status_on_every_command(
    status: DocumentStatus, command: DocumentCommand
) -> None:
    expected = DOCUMENT_EXPECTED[(status, command)]
    check = IN_STATUS[status]()
    (document,) = check.current_documents()
    assert document.status is status

    if expected == REFUSED:
        with pytest.raises(MoveRefused) as refused:
            run(check, command)
        assert isinstance(refused.value, Conflict) and refused.value.status == 409
        assert check.documents[str(document.document_id)] == document  # nothing changed
        return
    run(check, command)

    assert isinstance(expected, tuple)
    becomes, task = expected
    after = check.documents[str(document.document_id)]
    if becomes == GONE:
        assert after.removed and check.current_documents() == []
    else:
        assert after.status is becomes
    assert after.action_point is not None and after.action_point.status is task


@pytest.mark.parametrize(
    ("status", "command"),
    list(product(ActionPointStatus, ActionPointCommand)),
    ids=lambda value: str(value),
)
def test_every_action_point_status_on_every_command(
    status: ActionPointStatus, command: ActionPointCommand
) -> None:
    point = ActionPoint(document_id_for(uuid4()), status, NOW)

    moved = point.moved(command, LATER)

    expected = ACTION_POINT_EXPECTED[(status, command)]
    if expected is None:
        assert moved == point
    else:
        assert moved.status is expected
        assert moved.completed_at == (LATER if expected is ActionPointStatus.COMPLETED else None)


def test_a_removed_action_point_cannot_be_removed_again() -> None:
    check = requested()
    (document,) = check.current_documents()
    assert document.action_point is not None
    point_id = document.action_point.action_point_id
    check.remove_action_point(point_id, "adviser:a-1", LATER)

    with pytest.raises(ActionPointNotFound) as missing:
        check.remove_action_point(point_id, "adviser:a-1", LATER)
    assert missing.value.status == 404
