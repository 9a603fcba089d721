"""Statuses of a document and of its action point, and the moves between them (SPEC section 6).

A document's status moves by ``DOCUMENT_MOVES`` and an action point's by ``ACTION_POINT_MOVES``;
the commands consult them, so a new status is an enum member and its rows. The sets other rules
need (what still awaits a delivery, what can be reminded) are derived from the tables here, not
written out again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class DocumentStatus(StrEnum):
    REQUESTED = "requested"
    UPLOADED = "uploaded"  # HDN: ontvangen
    APPROVED = "approved"  # HDN: goedgekeurd
    REJECTED = "rejected"  # HDN: afgekeurd, opnieuw aan te leveren
    EXPIRED = "expired"  # HDN: vervallen; its validity window passed (no moves out of it)
    # SPEC section 9: the client (or adviser) says it does not apply; the adviser decides.
    NOT_APPLICABLE_CLAIMED = "not_applicable_claimed"  # HDN: n.v.t. gemeld, te beoordelen
    WAIVED = "waived"  # HDN: niet van toepassing (vervallen verzoek); no moves out of it


class ActionPointStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    REMOVED = "removed"


class DocumentCommand(StrEnum):
    UPLOAD = "upload"  # an upload or a copy
    REMOVE = "remove"  # the cross in the dossier check (way 2a)
    APPROVE = "approve"  # the adviser's review
    REJECT = "reject"  # the adviser's review, with a reason for the client
    EXPIRE = "expire"  # its validity window passed: the scheduler's, never a user's
    CLAIM_NOT_APPLICABLE = "claim_not_applicable"  # "niet van toepassing", with a note
    WAIVE = "waive"  # the adviser's review of such a claim: accepted


BY_THE_CLOCK = frozenset({DocumentCommand.EXPIRE})
"""Commands that time gives, not a user: never offered as a document's ``actions``."""

ON_THE_ACTION_POINT = frozenset({DocumentCommand.CLAIM_NOT_APPLICABLE})
"""Commands given through the document's action point (``/action-points/{id}/...``): not
offered as a document's ``actions`` either."""


class ActionPointCommand(StrEnum):
    COMPLETE = "complete"
    REMOVE = "remove"  # with its document (way 2a) or alone (way 2b)
    REOPEN = "reopen"  # its document was rejected: the client delivers it again
    RESTORE = "restore"  # its dossier's closing removed it, and the dossier was reopened


class Move(NamedTuple):
    """Where a document goes on a command, and what it asks of its action point."""

    becomes: DocumentStatus | None  # None: the document is gone from the dossier check
    action_point: ActionPointCommand | None = None


DOCUMENT_MOVES: dict[tuple[DocumentStatus, DocumentCommand], Move] = {
    (DocumentStatus.REQUESTED, DocumentCommand.UPLOAD): Move(
        DocumentStatus.UPLOADED, ActionPointCommand.COMPLETE
    ),
    # Another upload adds a version.
    (DocumentStatus.UPLOADED, DocumentCommand.UPLOAD): Move(
        DocumentStatus.UPLOADED, ActionPointCommand.COMPLETE
    ),
    (DocumentStatus.REQUESTED, DocumentCommand.REMOVE): Move(None, ActionPointCommand.REMOVE),
    # The review: approval leaves the completed action point as it is; a rejection reopens it,
    # and the next upload completes it again.
    (DocumentStatus.UPLOADED, DocumentCommand.APPROVE): Move(DocumentStatus.APPROVED),
    (DocumentStatus.UPLOADED, DocumentCommand.REJECT): Move(
        DocumentStatus.REJECTED, ActionPointCommand.REOPEN
    ),
    (DocumentStatus.REJECTED, DocumentCommand.UPLOAD): Move(
        DocumentStatus.UPLOADED, ActionPointCommand.COMPLETE
    ),
    # The end of a delivered document's validity window; its action point stays completed.
    (DocumentStatus.UPLOADED, DocumentCommand.EXPIRE): Move(DocumentStatus.EXPIRED),
    (DocumentStatus.APPROVED, DocumentCommand.EXPIRE): Move(DocumentStatus.EXPIRED),
    # "Not applicable" (SPEC section 9): an open task answered with a note instead of a file.
    # The task is done for now (no reminders); the adviser waives the document, or refuses
    # the claim with a reason (a rejection: the task opens again); a file still completes it.
    (DocumentStatus.REQUESTED, DocumentCommand.CLAIM_NOT_APPLICABLE): Move(
        DocumentStatus.NOT_APPLICABLE_CLAIMED, ActionPointCommand.COMPLETE
    ),
    (DocumentStatus.REJECTED, DocumentCommand.CLAIM_NOT_APPLICABLE): Move(
        DocumentStatus.NOT_APPLICABLE_CLAIMED, ActionPointCommand.COMPLETE
    ),
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.WAIVE): Move(DocumentStatus.WAIVED),
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.REJECT): Move(
        DocumentStatus.REJECTED, ActionPointCommand.REOPEN
    ),
    (DocumentStatus.NOT_APPLICABLE_CLAIMED, DocumentCommand.UPLOAD): Move(
        DocumentStatus.UPLOADED, ActionPointCommand.COMPLETE
    ),
}
"""The document moves the dossier check allows; any other is refused (``MoveRefused``)."""

ACTION_POINT_MOVES: dict[tuple[ActionPointStatus, ActionPointCommand], ActionPointStatus] = {
    (ActionPointStatus.OPEN, ActionPointCommand.COMPLETE): ActionPointStatus.COMPLETED,
    (ActionPointStatus.OPEN, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REOPEN): ActionPointStatus.OPEN,
    (ActionPointStatus.REMOVED, ActionPointCommand.RESTORE): ActionPointStatus.OPEN,
}
"""The action-point moves; a document move's request outside this table leaves the point as it
is (a completed point stays completed on a second upload, a removed one stays removed)."""


AWAITING_DELIVERY = frozenset(
    status
    for (status, command), move in DOCUMENT_MOVES.items()
    if command is DocumentCommand.UPLOAD and move.becomes is not status
)
"""A document the client still has to deliver (requested, or rejected and to be delivered
again): a delivery moves it on. A later request of its type on its subject is merged into it,
not added beside it."""

AWAITING_CLIENT = frozenset(
    status for (status, command) in ACTION_POINT_MOVES if command is ActionPointCommand.COMPLETE
)
"""An action point the client still has to act on (open): one a delivery completes. Only these
are reminded, marked overdue, and listed as the dossier's open items."""
