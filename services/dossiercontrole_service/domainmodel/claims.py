""" "Niet van toepassing" (SPEC section 9): the client answers an open action point with a note
instead of a file (no divorce papers: never divorced), and the adviser decides.

A claim makes the document ``not_applicable_claimed`` and completes its action point for now
(the client did what was asked: no reminders, not overdue); the adviser then waives the
document (``waived``: done for good, counted as done in the client's progress) or refuses the
claim with a reason, which reopens the action point as a rejection does (``rejected``). A file
delivered meanwhile simply delivers it. The moves are ``DOCUMENT_MOVES``' rows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.dossiercontrole_service.domainmodel.contents import DossierContents
from services.dossiercontrole_service.domainmodel.errors import (
    MoveRefused,
    NoteRequired,
    ReasonRequired,
)
from services.dossiercontrole_service.domainmodel.statuses import (
    DOCUMENT_MOVES,
    DocumentCommand,
    DocumentStatus,
    Move,
)
from services.dossiercontrole_service.domainmodel.values import Document

MAX_NOTE = 2000
"""The longest note a claim takes (characters)."""


def _move(document: Document, command: DocumentCommand) -> Move:
    move = DOCUMENT_MOVES.get((document.status, command))
    if move is None:
        raise MoveRefused(
            f"document {document.document_id} is {document.status.value}: no {command.value} now"
        )
    return move


class Claims(DossierContents, Aggregate):
    """The part of the ``DossierCheck`` that takes "not applicable" claims and decides them."""

    def claim_not_applicable(self, action_point_id: UUID, note: str, by: str, at: datetime) -> UUID:
        """The client (or the adviser) says the open action point's document does not apply,
        with a note for the adviser; answers the document's id. A point that is not open is a
        ``NotOpen`` (409)."""
        note = note.strip()
        if not note:
            raise NoteRequired("a 'not applicable' claim needs a note saying why")
        if len(note) > MAX_NOTE:
            raise NoteRequired(f"a note is at most {MAX_NOTE} characters")
        document, _ = self.open_point(action_point_id)
        _move(document, DocumentCommand.CLAIM_NOT_APPLICABLE)
        self._claim_not_applicable(document.document_id, action_point_id, note, by, at)
        return document.document_id

    @event("NotApplicableClaimed")
    def _claim_not_applicable(
        self, document_id: UUID, action_point_id: UUID, note: str, by: str, at: datetime
    ) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.CLAIM_NOT_APPLICABLE)]
        point = document.action_point
        if point is not None and move.action_point is not None:
            point = point.moved(move.action_point, at).no_longer_overdue()
        self.documents[str(document_id)] = replace(
            document,
            status=move.becomes or document.status,
            action_point=point,
            note=note,
            rejection_reason=None,
        )

    def waive(self, document_id: UUID, by: str, at: datetime) -> None:
        """The adviser accepts the claim: the document is not needed (``waived``)."""
        _move(self.document(document_id), DocumentCommand.WAIVE)
        self._waive(document_id, by, at)

    @event("DocumentWaived")
    def _waive(self, document_id: UUID, by: str, at: datetime) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.WAIVE)]
        self.documents[str(document_id)] = replace(document, status=move.becomes or document.status)

    def refuse_claim(self, document_id: UUID, reason: str, by: str, at: datetime) -> None:
        """The adviser refuses the claim with a reason for the client: the action point opens
        again with it, as after a rejection."""
        reason = reason.strip()
        if not reason:
            raise ReasonRequired("refusing a 'not applicable' claim needs a reason for the client")
        document = self.document(document_id)
        if document.status is not DocumentStatus.NOT_APPLICABLE_CLAIMED:
            raise MoveRefused(f"document {document_id} is {document.status.value}: no claim")
        move = _move(document, DocumentCommand.REJECT)
        reopens = document.action_point_would(move.action_point) if move.action_point else None
        self._refuse_claim(document_id, reason, by, at, str(reopens) if reopens else None)

    @event("NotApplicableRefused")
    def _refuse_claim(
        self,
        document_id: UUID,
        reason: str,
        by: str,
        at: datetime,
        reopens_action_point: str | None,
    ) -> None:
        document = self.documents[str(document_id)]
        self.documents[str(document_id)] = document.rejected(reason, at, reopens_action_point)
