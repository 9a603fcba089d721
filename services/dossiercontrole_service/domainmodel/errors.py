"""The dossier check's refusals: each a kind of ``servicekit.domain`` error, whose kind gives
the HTTP status (``servicekit.runtime``) and a dead letter on Kafka."""

from __future__ import annotations

from servicekit.domain import Conflict, DomainError, Invalid, NotFound, TooLarge


class DossierCheckError(DomainError):
    """A command the dossier check refuses; its kind (``servicekit.domain``) gives the status."""


class DocumentNotFound(DossierCheckError, NotFound):
    pass


class SourceDocumentNotFound(DossierCheckError, Invalid):
    """The document a copy should take its file from is not in this dossier (or office)."""


class ActionPointNotFound(DossierCheckError, NotFound):
    pass


class VersionNotFound(DossierCheckError, NotFound):
    """The document has no file of that version (yet)."""


class NoSuchVersion(DossierCheckError, Invalid):
    """A review names a version that was never delivered."""


class NewerVersionArrived(DossierCheckError, Conflict):
    """A review of a version that is no longer the latest: the adviser decided on what it saw,
    and the client delivered again since (SPEC section 7: 409)."""


class MoveRefused(DossierCheckError, Conflict):
    """The document's status does not allow the command (SPEC section 6: 409)."""


class DocumentHasUpload(MoveRefused):
    pass


class NothingUploaded(DossierCheckError, Invalid):
    pass


class ReasonRequired(DossierCheckError, Invalid):
    """A rejection without a reason: the client must be told what to deliver instead."""


class UploadQuotaExceeded(DossierCheckError, TooLarge):
    pass


class NotOpen(DossierCheckError, Conflict):
    """The action point is completed (or removed): nothing to remind or to mark overdue."""


class AlreadyDone(DossierCheckError, Conflict):
    """A scheduled step (overdue, a reminder) that was done already: another replica or an
    earlier run of the scheduler got there first."""


class RequestIdInUse(DossierCheckError, Conflict):
    """A request id that already added a document or an action point to another dossier (or
    office): a faulty producer. Accepting it would give two dossiers one id."""


class AlreadyReviewed(DossierCheckError, Conflict):
    """Files appended to a version that the adviser reviewed already (SPEC section 9: 409)."""


class NoteRequired(DossierCheckError, Invalid):
    """A "not applicable" claim without a note: the adviser must know why."""


class VersionFull(DossierCheckError, TooLarge):
    """Files that would make one version hold too many files or bytes (SPEC section 9)."""
