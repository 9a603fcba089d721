"""The dossier check (dossiercontrole): documents per subject, their files and action points.

One ``DossierCheck`` aggregate per dossier holds every requested document (stuk) and, for most
of them, the client's action point (actiepunt voor klant). Keeping a dossier in one aggregate
makes its rules atomic: no second open request for the same document type on a subject, no
deletion once a file was uploaded.

A document's status moves by the table ``DOCUMENT_MOVES`` and an action point's by
``ACTION_POINT_MOVES``; the commands consult them, so a new status (SPEC section 6: approved,
rejected, expired; an action point reopened) is an enum member and its rows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import Conflict, DomainError, Invalid, NotFound, TooLarge
from shared.events.durations import Duration

_NS = uuid5(NAMESPACE_URL, "urn:actiepunten:dossiercontrole")


# --- refusals ------------------------------------------------------------------------------------


class DossierCheckError(DomainError):
    """A command the dossier check refuses; its kind (``servicekit.domain``) gives the status."""


class DocumentNotFound(DossierCheckError, NotFound):
    pass


class SourceDocumentNotFound(DossierCheckError, Invalid):
    """The document a copy should take its file from is not in this dossier (or office)."""


class ActionPointNotFound(DossierCheckError, NotFound):
    pass


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


# --- statuses and their moves ------------------------------------------------------------------


class DocumentStatus(StrEnum):
    REQUESTED = "requested"
    UPLOADED = "uploaded"  # HDN: ontvangen
    APPROVED = "approved"  # HDN: goedgekeurd
    REJECTED = "rejected"  # HDN: afgekeurd, opnieuw aan te leveren
    EXPIRED = "expired"  # HDN: vervallen; its validity window passed (no moves out of it)


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


BY_THE_CLOCK = frozenset({DocumentCommand.EXPIRE})
"""Commands that time gives, not a user: never offered as a document's ``actions``."""


class ActionPointCommand(StrEnum):
    COMPLETE = "complete"
    REMOVE = "remove"  # with its document (way 2a) or alone (way 2b)
    REOPEN = "reopen"  # its document was rejected: the client delivers it again


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
}
"""The document moves the dossier check allows; any other is refused (``MoveRefused``)."""

ACTION_POINT_MOVES: dict[tuple[ActionPointStatus, ActionPointCommand], ActionPointStatus] = {
    (ActionPointStatus.OPEN, ActionPointCommand.COMPLETE): ActionPointStatus.COMPLETED,
    (ActionPointStatus.OPEN, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REMOVE): ActionPointStatus.REMOVED,
    (ActionPointStatus.COMPLETED, ActionPointCommand.REOPEN): ActionPointStatus.OPEN,
}
"""The action-point moves; a document move's request outside this table leaves the point as it
is (a completed point stays completed on a second upload, a removed one stays removed)."""


# --- value objects -------------------------------------------------------------------------------


class _Value:
    """A value object: immutable, so a copy of an aggregate (the repository deep-copies cached
    ones for each caller) shares it instead of copying it field by field."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


@dataclass(frozen=True, slots=True)
class Subject(_Value):
    """What documents are requested for: a product or an appointment of the dossier."""

    type: str
    id: str
    scope: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Subject:
        return cls(str(data["type"]), str(data["id"]), str(data["scope"]))

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id, "scope": self.scope}


@dataclass(frozen=True, slots=True)
class StoredFile(_Value):
    """One version of a document's file: its metadata; the bytes are in the blob store."""

    version: int
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_at: datetime
    uploaded_by: str
    copied_from: UUID | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> StoredFile:
        copied_from = data.get("copied_from")
        return cls(
            **{name: data[name] for name in _FILE_FIELDS if name != "copied_from"},
            copied_from=UUID(str(copied_from)) if copied_from else None,
        )

    def metadata(self) -> dict[str, Any]:
        """What an upload event carries of it (and a copy reuses)."""
        return {key: getattr(self, key) for key in ("sha256", "size", "content_type", "filename")}


_FILE_FIELDS = tuple(f.name for f in fields(StoredFile))


@dataclass(frozen=True, slots=True)
class ActionPoint(_Value):
    """The client's task for a document (actiepunt voor klant)."""

    action_point_id: UUID
    status: ActionPointStatus
    created_at: datetime
    completed_at: datetime | None = None
    # Due dates and reminders (SPEC section 6).
    due_at: datetime | None = None
    overdue: bool = False  # set by the scheduler once ``due_at`` passed while open
    reminders: int = 0  # reminders sent, scheduled or asked for: the last reminder_number
    reminded_for: datetime | None = None  # the schedule's moment of the last scheduled one

    @classmethod
    def of(cls, data: dict[str, Any]) -> ActionPoint:
        return cls(
            UUID(str(data["action_point_id"])),
            ActionPointStatus(data["status"]),
            data["created_at"],
            data.get("completed_at"),
            data.get("due_at"),
            bool(data.get("overdue", False)),
            int(data.get("reminders", 0)),
            data.get("reminded_for"),
        )

    @property
    def current(self) -> bool:
        """Open or completed: shown to the adviser and the client; a removed one is not."""
        return self.status is not ActionPointStatus.REMOVED

    def moved(self, command: ActionPointCommand, at: datetime) -> ActionPoint:
        becomes = ACTION_POINT_MOVES.get((self.status, command))
        if becomes is None:
            return self
        if becomes is ActionPointStatus.COMPLETED:
            completed_at: datetime | None = at
        elif becomes is ActionPointStatus.OPEN:
            completed_at = None  # reopened
        else:
            completed_at = self.completed_at
        return replace(self, status=becomes, completed_at=completed_at)

    def no_longer_overdue(self) -> ActionPoint:
        """A completed point is not overdue; reopened past its due date, the
        scheduler marks it overdue again."""
        return replace(self, overdue=False) if self.overdue else self


@dataclass(frozen=True, slots=True)
class Document(_Value):
    """A requested document (stuk) of the dossier check, with its files and action point."""

    document_id: UUID
    request_id: UUID
    subject: Subject
    document_type: str
    title: str
    status: DocumentStatus
    created_at: datetime
    action_point: ActionPoint | None = None
    files: tuple[StoredFile, ...] = ()
    removed: bool = False
    rejection_reason: str | None = None  # while rejected: what the client must deliver instead
    valid_until: datetime | None = None  # of the latest delivery, by its type's ``valid_for``
    source: str | None = None  # scenario, manual, document_list, expired; None: stored before
    replaces_document_id: UUID | None = None  # the expired document this one requests again
    due_at: datetime | None = None  # when the client should have delivered it

    @classmethod
    def of(cls, data: dict[str, Any]) -> Document:
        """A document as a snapshot of the first class version kept it (a dict)."""
        point = data.get("action_point")
        return cls(
            document_id=UUID(str(data["document_id"])),
            request_id=UUID(str(data["request_id"])),
            subject=_of(Subject, data["subject"]),
            document_type=data["document_type"],
            title=data["title"],
            status=DocumentStatus(data["status"]),
            created_at=data["created_at"],
            action_point=_of(ActionPoint, point) if point else None,
            files=tuple(_of(StoredFile, f) for f in data.get("files", ())),
            removed=bool(data.get("removed")),
            rejection_reason=data.get("rejection_reason"),
            valid_until=data.get("valid_until"),
            source=data.get("source"),
            replaces_document_id=_uuid_or_none(data.get("replaces_document_id")),
            due_at=data.get("due_at"),
        )

    @property
    def current_action_point(self) -> ActionPoint | None:
        point = self.action_point
        return point if point is not None and point.current else None

    def allowed_commands(self) -> list[DocumentCommand]:
        """The commands the document's status allows (``DOCUMENT_MOVES``)."""
        return [
            command
            for command in DocumentCommand
            if (self.status, command) in DOCUMENT_MOVES and command not in BY_THE_CLOCK
        ]

    def action_point_would(self, command: ActionPointCommand) -> UUID | None:
        """The id of the action point that ``command`` would move, if the table allows it."""
        point = self.action_point
        if point is None or (point.status, command) not in ACTION_POINT_MOVES:
            return None
        return point.action_point_id


def _uuid_or_none(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


def _of(cls: Any, value: Any) -> Any:
    """``value`` as a ``cls``: as it is, or made from a dict (an old snapshot's, or JSON)."""
    return value if isinstance(value, cls) else cls.of(value)


VALUE_OBJECTS: tuple[type, ...] = (Subject, StoredFile, ActionPoint, Document)
"""The value objects a snapshot of a ``DossierCheck`` holds (``application`` transcodes them)."""


# --- names and ids -------------------------------------------------------------------------------


def office_name(kind: str, tenant: str, *rest: str) -> str:
    """The name of an office's aggregate, ``kind:tenant[:rest...]``, that its id derives from.

    An office id never contains ``:`` (tokens and envelopes refuse it), so the tenant ends at the
    first ``:`` after the kind and two offices never share a name: office ``acme``'s dossier
    ``eu:d1`` is ``dossier:acme:eu:d1``; office ``acme:eu`` cannot exist. Only the last part may
    contain ``:``. Names of aggregates stored before this rule stay what they were.
    """
    if ":" in tenant:
        raise ValueError(f"an office id must not contain ':': {tenant!r}")
    return ":".join((kind, tenant, *rest))


def document_id_for(request_id: UUID) -> UUID:
    return uuid5(_NS, f"document:{request_id}")


def action_point_id_for(request_id: UUID) -> UUID:
    return uuid5(_NS, f"action-point:{request_id}")


def rerequest_id_for(expired_document_id: UUID) -> UUID:
    """The request id of the document that an expiry requests again: derived from the expired
    document, so that a retried expiry makes the same document and action point ids."""
    return uuid5(_NS, f"rerequest:{expired_document_id}")


def validity_end(delivered_at: datetime, valid_for: str | None) -> datetime | None:
    """The end of a delivered document's validity window: the delivery's moment plus its type's
    ``valid_for`` (ISO 8601; months by the calendar, so 31 January plus ``P1M`` is 28 or 29
    February); None for a type without a window."""
    return Duration.parse(valid_for).after(delivered_at) if valid_for else None


class Requested(NamedTuple):
    """What a document request added: a new document (with its action point, if any), or only
    an action point on the document that was requested already, or nothing."""

    document_id: UUID | None = None
    action_point_id: UUID | None = None


def _without_owner(state: dict[str, Any]) -> None:
    """Events stored before class version 2 carried the office and the dossier for the outbox
    relay, which now reads them from the aggregate's identity (``servicekit.outbox.Origin``)."""
    state.pop("tenant", None)
    state.pop("dossier_id", None)


# A document the client still has to deliver: requested, or rejected and to be delivered again.
# A later request of its type on its subject is merged into it, not added beside it.
_AWAITING_DELIVERY = frozenset({DocumentStatus.REQUESTED, DocumentStatus.REJECTED})


class DossierCheck(Aggregate):
    """All requested documents of one client's dossier, in one office."""

    # Snapshots of class version 1 kept documents as dicts (``upcast_v1_v2``).
    class_version = 2

    class Event(Aggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(_without_owner)

    class Opened(Aggregate.Created):
        class_version = 1  # the aggregate's identity: the one event that keeps its owner
        tenant: str
        dossier_id: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["documents"] = {key: Document.of(value) for key, value in state["documents"].items()}

    @staticmethod
    def create_id(tenant: str, dossier_id: str) -> UUID:
        return uuid5(_NS, office_name("dossier", tenant, dossier_id))

    @event(Opened)
    def __init__(self, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.documents: dict[str, Document] = {}
        self.handled_requests: set[str] = set()

    def __deepcopy__(self, memo: dict[int, Any]) -> DossierCheck:
        """The copy each caller gets of a cached dossier check: its two big containers are
        copied and what they hold is shared (frozen documents, request ids), rather than visited
        one by one (a dossier of 5,000 documents took 10 ms to copy, now well under one)."""
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        for name, value in vars(self).items():
            if name == "documents":
                value = dict(value)
            elif name == "handled_requests":
                value = set(value)
            else:
                value = copy.deepcopy(value, memo)
            object.__setattr__(copied, name, value)
        return copied

    # --- requests ------------------------------------------------------------------------------

    def open_request_for(self, subject: Subject, document_type: str) -> Document | None:
        for document in self.current_documents():
            if (
                document.status in _AWAITING_DELIVERY
                and document.subject == subject
                and document.document_type == document_type
            ):
                return document
        return None

    def request_document(
        self,
        request_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str,
        with_action_point: bool,
        at: datetime,
        source: str | None = None,
        due_at: datetime | None = None,
    ) -> Requested:
        """Add the requested document unless it is requested already; says what it added.

        A request for a document that is requested already (open, same type and subject) adds
        no second document: two scenarios asking for the ID give the client one task. If that
        document has no action point and this request asks for one, the document gets it:
        the client needs that task, and one document still has one task. An action point the
        adviser removed stays removed.
        """
        if str(request_id) in self.handled_requests:
            return Requested()
        existing = self.open_request_for(Subject.of(subject), document_type)
        if existing is not None:
            return self._merge_into(existing, request_id, with_action_point, at, due_at)
        document_id = document_id_for(request_id)
        action_point_id = action_point_id_for(request_id) if with_action_point else None
        self._add_document(
            request_id,
            document_id,
            subject,
            document_type,
            title,
            action_point_id,
            at,
            source,
            due_at=due_at,
        )
        return Requested(document_id, action_point_id)

    def _merge_into(
        self,
        existing: Document,
        request_id: UUID,
        with_action_point: bool,
        at: datetime,
        due_at: datetime | None,
    ) -> Requested:
        self._merge_request(request_id, str(existing.document_id))
        if not with_action_point or existing.action_point is not None:
            return Requested()
        opened = action_point_id_for(request_id)
        self._open_action_point(
            existing.document_id,
            opened,
            request_id,
            existing.subject.as_dict(),
            existing.document_type,
            existing.title,
            at,
            existing.due_at or due_at,
        )
        return Requested(action_point_id=opened)

    @event("RequestMerged")
    def _merge_request(self, request_id: UUID, document_id: str) -> None:
        # Two scenarios asking for the same document give the client one task.
        self.handled_requests.add(str(request_id))

    @event("ActionPointOpened")
    def _open_action_point(
        self,
        document_id: UUID,
        action_point_id: UUID,
        request_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str,
        at: datetime,
        due_at: datetime | None = None,
    ) -> None:
        # The document's facts ride along so that the event can be published on its own.
        point = ActionPoint(action_point_id, ActionPointStatus.OPEN, at, due_at=due_at)
        self._put(replace(self.documents[str(document_id)], action_point=point))

    class DocumentAdded(Event):
        # Class version 3 added where the request came from, and the expired document that a
        # document requested again replaces; class version 4 its due date (SPEC section 6).
        class_version = 4
        request_id: UUID
        document_id: UUID
        subject: dict[str, Any]
        document_type: str
        title: str
        action_point_id: UUID | None
        at: datetime
        source: str | None
        replaces_document_id: UUID | None
        due_at: datetime | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.update(source=None, replaces_document_id=None)

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            state.update(due_at=None)

    @event(DocumentAdded)
    def _add_document(
        self,
        request_id: UUID,
        document_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str,
        action_point_id: UUID | None,
        at: datetime,
        source: str | None = None,
        replaces_document_id: UUID | None = None,
        due_at: datetime | None = None,  # absent from events stored before due dates
    ) -> None:
        self.handled_requests.add(str(request_id))
        point = (
            ActionPoint(action_point_id, ActionPointStatus.OPEN, at, due_at=due_at)
            if action_point_id is not None
            else None
        )
        self._put(
            Document(
                document_id=document_id,
                request_id=request_id,
                subject=Subject.of(subject),
                document_type=document_type,
                title=title,
                status=DocumentStatus.REQUESTED,
                created_at=at,
                action_point=point,
                source=source,
                replaces_document_id=replaces_document_id,
                due_at=due_at,
            )
        )

    def _put(self, document: Document) -> None:
        self.documents[str(document.document_id)] = document

    # --- queries -------------------------------------------------------------------------------

    def document(self, document_id: UUID) -> Document:
        document = self.documents.get(str(document_id))
        if document is None or document.removed:
            raise DocumentNotFound(f"document {document_id} not found")
        return document

    def current_documents(self) -> list[Document]:
        return [d for d in self.documents.values() if not d.removed]

    def document_of_action_point(self, action_point_id: UUID) -> Document:
        for document in self.current_documents():
            point = document.current_action_point
            if point is not None and point.action_point_id == action_point_id:
                return document
        raise ActionPointNotFound(f"action point {action_point_id} not found")

    def _move(self, document: Document, command: DocumentCommand) -> Move:
        move = DOCUMENT_MOVES.get((document.status, command))
        if move is None:
            raise MoveRefused(
                f"document {document.document_id} is {document.status.value}: "
                f"no {command.value} now"
            )
        return move

    # --- uploads -------------------------------------------------------------------------------

    def uploaded_bytes(self) -> int:
        """The bytes uploaded into this dossier; a copy reuses a stored file and adds none."""
        return sum(
            file.size
            for document in self.documents.values()
            for file in document.files
            if not file.copied_from
        )

    def ensure_room_for(self, size: int, quota: int | None) -> None:
        """Refuses ``size`` more bytes of uploads when the dossier's quota would be passed."""
        if quota is None:
            return
        used = self.uploaded_bytes()
        if used + size > quota:
            raise UploadQuotaExceeded(
                f"dossier {self.dossier_id} holds {used} bytes of uploads; "
                f"{size} more would pass its quota of {quota} bytes"
            )

    def upload(
        self,
        document_id: UUID,
        file: dict[str, Any],
        by: str,
        at: datetime,
        copied_from: UUID | None = None,
        quota: int | None = None,
        valid_for: str | None = None,
    ) -> None:
        """A new version of the document's file; completes its open action point.

        ``quota``: the most bytes the dossier's uploads may hold together; ``valid_for``: the
        document type's validity window now (ISO 8601), which each upload restarts.
        """
        document = self.document(document_id)
        move = self._move(document, DocumentCommand.UPLOAD)
        if copied_from is None:
            self.ensure_room_for(int(file["size"]), quota)
        completes = document.action_point_would(move.action_point) if move.action_point else None
        self._upload(
            document_id,
            len(document.files) + 1,
            file,
            by,
            at,
            copied_from,
            str(completes) if completes else None,
            validity_end(at, valid_for),
        )

    def copy_from(
        self,
        document_id: UUID,
        source_document_id: UUID,
        by: str,
        at: datetime,
        valid_for: str | None = None,
    ) -> None:
        """The copy icon: reuse the latest file of another uploaded document of this dossier.
        Its validity window starts at the copy, as at an upload."""
        source = self.documents.get(str(source_document_id))
        if source is None or source.removed:
            raise SourceDocumentNotFound(f"source document {source_document_id} not found")
        if not source.files:
            raise NothingUploaded(f"document {source_document_id} has no uploaded file to copy")
        self.upload(
            document_id,
            source.files[-1].metadata(),
            by,
            at,
            copied_from=source_document_id,
            valid_for=valid_for,
        )

    class DocumentUploaded(Event):
        # Class version 3 added the end of the delivery's validity window (SPEC section 6).
        class_version = 3
        document_id: UUID
        version: int
        file: dict[str, Any]
        by: str
        at: datetime
        copied_from: UUID | None
        completes_action_point: str | None
        valid_until: datetime | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["valid_until"] = None

    @event(DocumentUploaded)
    def _upload(
        self,
        document_id: UUID,
        version: int,
        file: dict[str, Any],
        by: str,
        at: datetime,
        copied_from: UUID | None,
        completes_action_point: str | None,
        valid_until: datetime | None = None,
    ) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.UPLOAD)]
        stored = StoredFile.of(
            {
                **file,
                "version": version,
                "uploaded_at": at,
                "uploaded_by": by,
                "copied_from": copied_from,
            }
        )
        point = document.action_point
        if completes_action_point and point is not None:
            point = point.moved(ActionPointCommand.COMPLETE, at).no_longer_overdue()
        self._put(
            replace(
                document,
                status=move.becomes or document.status,
                files=(*document.files, stored),
                action_point=point,
                rejection_reason=None,
                valid_until=valid_until,
            )
        )

    # --- the adviser's review --------------------------------------------------------------------

    def approve(self, document_id: UUID, by: str, at: datetime) -> None:
        """The adviser accepts the delivered file (its latest version); its task stays done."""
        document = self.document(document_id)
        self._move(document, DocumentCommand.APPROVE)
        self._approve(document_id, len(document.files), by, at)

    @event("DocumentApproved")
    def _approve(self, document_id: UUID, version: int, by: str, at: datetime) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.APPROVE)]
        self._put(replace(document, status=move.becomes or document.status))

    def reject(self, document_id: UUID, reason: str, by: str, at: datetime) -> None:
        """The adviser refuses the delivered file with a reason for the client: the client's
        action point opens again with it, and the file stays as a version (audit trail)."""
        reason = reason.strip()
        if not reason:
            raise ReasonRequired("a rejection needs a reason for the client")
        document = self.document(document_id)
        move = self._move(document, DocumentCommand.REJECT)
        reopens = document.action_point_would(move.action_point) if move.action_point else None
        self._reject(
            document_id, len(document.files), reason, by, at, str(reopens) if reopens else None
        )

    @event("DocumentRejected")
    def _reject(
        self,
        document_id: UUID,
        version: int,
        reason: str,
        by: str,
        at: datetime,
        reopens_action_point: str | None,
    ) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.REJECT)]
        point = document.action_point
        if reopens_action_point and point is not None:
            point = point.moved(ActionPointCommand.REOPEN, at)
        self._put(
            replace(
                document,
                status=move.becomes or document.status,
                action_point=point,
                rejection_reason=reason,
            )
        )

    # --- validity windows -------------------------------------------------------------------------

    def expire(
        self,
        document_id: UUID,
        at: datetime,
        *,
        rerequest: bool,
        with_action_point: bool,
        due_at: datetime | None = None,
    ) -> Requested | None:
        """The document's validity window has passed at ``at``: it becomes expired, once.

        None when there is nothing to expire (no window, not passed yet, expired already, or a
        status without the move, such as rejected): a retried or raced expiry changes nothing.
        With ``rerequest`` the document is requested again on its subject, linked to it, unless
        that type is awaiting delivery there already; says what that added.
        """
        document = self.documents.get(str(document_id))
        if document is None or document.removed:
            return None
        window_end = document.valid_until
        if window_end is None or window_end > at:
            return None
        if (document.status, DocumentCommand.EXPIRE) not in DOCUMENT_MOVES:
            return None
        again = Requested()
        if rerequest and self.open_request_for(document.subject, document.document_type) is None:
            request_id = rerequest_id_for(document_id)
            again = Requested(
                document_id_for(request_id),
                action_point_id_for(request_id) if with_action_point else None,
            )
        self._expire(document_id, window_end, at, again.document_id)
        if again.document_id is not None:
            self._add_document(
                rerequest_id_for(document_id),
                again.document_id,
                document.subject.as_dict(),
                document.document_type,
                document.title,
                again.action_point_id,
                at,
                "expired",
                document_id,
                due_at,  # of the request made again: its type's due_in from now
            )
        return again

    @event("DocumentExpired")
    def _expire(
        self,
        document_id: UUID,
        valid_until: datetime,
        at: datetime,
        rerequested_document_id: UUID | None,
    ) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.EXPIRE)]
        self._put(replace(document, status=move.becomes or document.status))

    # --- the two ways to remove an action point --------------------------------------------------

    def remove_document(self, document_id: UUID, by: str, at: datetime) -> None:
        """The cross in the dossier check; only while nothing was uploaded for it."""
        document = self.document(document_id)
        try:
            self._move(document, DocumentCommand.REMOVE)
        except MoveRefused:
            raise DocumentHasUpload(f"document {document_id} has an uploaded file") from None
        removes = document.action_point_would(ActionPointCommand.REMOVE)
        self._remove_document(document_id, by, at, str(removes) if removes else None)

    @event("DocumentRemoved")
    def _remove_document(
        self, document_id: UUID, by: str, at: datetime, removes_action_point: str | None
    ) -> None:
        document = self.documents[str(document_id)]
        point = document.action_point
        if removes_action_point and point is not None:
            point = point.moved(ActionPointCommand.REMOVE, at)
        self._put(replace(document, removed=True, action_point=point))

    def remove_action_point(self, action_point_id: UUID, by: str, at: datetime) -> None:
        """The cross under "Actiepunten voor klant": the document stays in the dossier check."""
        document = self.document_of_action_point(action_point_id)
        self._remove_action_point(document.document_id, action_point_id, by, at)

    @event("ActionPointRemoved")
    def _remove_action_point(
        self, document_id: UUID, action_point_id: UUID, by: str, at: datetime
    ) -> None:
        document = self.documents[str(document_id)]
        if document.action_point is not None:
            point = document.action_point.moved(ActionPointCommand.REMOVE, at)
            self._put(replace(document, action_point=point))

    # --- due dates: overdue and reminders (SPEC section 6) -------------------------------------

    def open_point(self, action_point_id: UUID) -> tuple[Document, ActionPoint]:
        """The document and its action point, which must be open (``NotOpen``: 409)."""
        document = self.document_of_action_point(action_point_id)
        point = document.action_point
        assert point is not None
        if point.status is not ActionPointStatus.OPEN:
            raise NotOpen(f"action point {action_point_id} is {point.status.value}")
        return document, point

    def due_points(self) -> list[tuple[Document, ActionPoint]]:
        """The open action points that have a due date: what the scheduler watches."""
        return [
            (document, point)
            for document in self.current_documents()
            if (point := document.current_action_point) is not None
            and point.status is ActionPointStatus.OPEN
            and point.due_at is not None
        ]

    def mark_overdue(self, action_point_id: UUID, at: datetime) -> None:
        """The open action point's due date passed: it is overdue, once (``AlreadyDone`` for a
        second time, until a completion ends it; reopened, it may become overdue again)."""
        document, point = self.open_point(action_point_id)
        if point.due_at is None or at < point.due_at:
            raise NotOpen(f"action point {action_point_id} is not due yet")
        if point.overdue:
            raise AlreadyDone(f"action point {action_point_id} is overdue already")
        self._mark_overdue(document.document_id, action_point_id, point.due_at, at)

    @event("ActionPointOverdue")
    def _mark_overdue(
        self, document_id: UUID, action_point_id: UUID, due_at: datetime, at: datetime
    ) -> None:
        document = self.documents[str(document_id)]
        assert document.action_point is not None
        self._put(replace(document, action_point=replace(document.action_point, overdue=True)))

    def remind(
        self,
        action_point_id: UUID,
        number: int,
        at: datetime,
        *,
        by: str | None = None,
        scheduled_for: datetime | None = None,
    ) -> None:
        """Remind the client of an open action point: reminder ``number`` (the next one), asked
        by an adviser (``by``) or the schedule's reminder of the moment ``scheduled_for``.

        Never twice: a number that is not the next one, or a scheduled moment not after the last
        one reminded, is ``AlreadyDone`` (another replica sent it); the save's optimistic
        concurrency decides a race between two that both read the same state.
        """
        document, point = self.open_point(action_point_id)
        if number != point.reminders + 1:
            raise AlreadyDone(f"reminder {number} of action point {action_point_id} was sent")
        if scheduled_for is not None and (
            point.reminded_for is not None and scheduled_for <= point.reminded_for
        ):
            raise AlreadyDone(f"the reminder of {scheduled_for.isoformat()} was sent")
        others = [
            {
                "action_point_id": str(other.action_point_id),
                "document_type": doc.document_type,
                "title": doc.title,
                "due_at": other.due_at.isoformat() if other.due_at else None,
            }
            for doc in self.current_documents()
            if (other := doc.current_action_point) is not None
            and other.status is ActionPointStatus.OPEN
        ]
        self._remind(
            document.document_id,
            action_point_id,
            document.document_type,
            document.title,
            point.due_at,
            number,
            scheduled_for,
            by,
            others,
            at,
        )

    @event("ActionPointReminderDue")
    def _remind(
        self,
        document_id: UUID,
        action_point_id: UUID,
        document_type: str,
        title: str,
        due_at: datetime | None,
        number: int,
        scheduled_for: datetime | None,
        by: str | None,
        open_items: list[dict[str, Any]],
        at: datetime,
    ) -> None:
        # What the reminder said (the dossier's open items then) rides along for the outbox.
        document = self.documents[str(document_id)]
        point = document.action_point
        assert point is not None
        point = replace(
            point,
            reminders=number,
            reminded_for=scheduled_for if scheduled_for is not None else point.reminded_for,
        )
        self._put(replace(document, action_point=point))


@dataclass(frozen=True, slots=True)
class ReminderPlan(_Value):
    """An office's reminder schedule: reminders ``before_due`` the due date (ISO 8601
    durations), one ``on_due``, then one ``every_after_due`` until done; at most
    ``max_reminders`` scheduled ones per action point (an adviser's "remind now" is extra)."""

    before_due: tuple[str, ...] = ("P3D",)
    on_due: bool = True
    every_after_due: str | None = "P7D"
    max_reminders: int = 5

    def as_dict(self) -> dict[str, Any]:
        return {
            "before_due": list(self.before_due),
            "on_due": self.on_due,
            "every_after_due": self.every_after_due,
            "max_reminders": self.max_reminders,
        }

    def moments(self, due_at: datetime, opened_at: datetime) -> list[datetime]:
        """The scheduled reminders of a point due at ``due_at`` that opened at ``opened_at``, in
        order: each ``before_due`` moment not past already when it opened, the due moment, then
        every ``every_after_due``; the first ``max_reminders`` of them."""
        limit = self.max_reminders
        chosen: list[datetime] = []
        try:
            before = sorted({Duration.parse(d).before(due_at) for d in self.before_due})
        except OverflowError:
            before = []
        chosen.extend(m for m in before if m >= opened_at and m < due_at)
        if self.on_due:
            chosen.append(due_at)
        if self.every_after_due is not None:
            step = Duration.parse(self.every_after_due)
            times = 1
            while len(chosen) < limit:
                try:
                    later = Duration(step.months * times, step.span * times).after(due_at)
                except OverflowError:
                    break
                if later <= due_at:
                    break  # a zero step would never end
                chosen.append(later)
                times += 1
        return chosen[:limit]

    def next_for(self, point: ActionPoint) -> datetime | None:
        """The moment of the point's next scheduled reminder (None: no more)."""
        if point.due_at is None:
            return None
        for moment in self.moments(point.due_at, point.created_at):
            if point.reminded_for is None or moment > point.reminded_for:
                return moment
        return None

    def latest_due_for(self, point: ActionPoint, now: datetime) -> datetime | None:
        """The latest scheduled moment not after ``now`` that was not reminded yet: after a
        pause of the scheduler, one reminder for the moments it missed, not a burst."""
        if point.due_at is None:
            return None
        found = None
        for moment in self.moments(point.due_at, point.created_at):
            if moment > now:
                break
            if point.reminded_for is None or moment > point.reminded_for:
                found = moment
        return found


class ReminderSchedule(Aggregate):
    """An office's reminder schedule (``ReminderPlan``), replaced whole by its admin."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(_NS, office_name("reminder-schedule", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.plan = ReminderPlan()

    @event("Changed")
    def change(
        self,
        before_due: list[str],
        on_due: bool,
        every_after_due: str | None,
        max_reminders: int,
        by: str,
    ) -> None:
        self.plan = ReminderPlan(tuple(before_due), on_due, every_after_due, max_reminders)


class Locator(Aggregate):
    """Finds the dossier of a document or action point id, which the API addresses directly."""

    @staticmethod
    def create_id(key: UUID, **_: Any) -> UUID:
        return uuid5(_NS, f"locator:{key}")

    @event("Placed")
    def __init__(self, key: UUID, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id


class DocumentTypes(Aggregate):
    """The office's document-type settings (stuksoorten): whether a type opens an action point,
    and its validity window, re-request on expiry and default due time."""

    class Event(Aggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(_without_owner)

    class Opened(Aggregate.Created):
        class_version = 1  # the aggregate's identity
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(_NS, office_name("document-types", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.types: dict[str, dict[str, Any]] = {}

    class Configured(Event):
        # Class version 3 added the document cycle's settings (SPEC section 6).
        class_version = 3
        code: str
        name: str
        creates_action_point: bool
        by: str
        valid_for: str | None
        rerequest_on_expiry: bool
        due_in: str | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.update(valid_for=None, rerequest_on_expiry=False, due_in=None)

    @event(Configured)
    def configure(
        self,
        code: str,
        name: str,
        creates_action_point: bool,
        by: str,
        valid_for: str | None = None,
        rerequest_on_expiry: bool = False,
        due_in: str | None = None,
    ) -> None:
        """A type's settings, replaced whole: whether it opens an action point, how long a
        delivered document stays valid (ISO 8601), whether its expiry requests it again, and
        the default due time of a request."""
        self.types[code] = {
            "code": code,
            "name": name,
            "creates_action_point": creates_action_point,
            "valid_for": valid_for,
            "rerequest_on_expiry": rerequest_on_expiry,
            "due_in": due_in,
        }

    def creates_action_point(self, code: str) -> bool:
        """True for a type nobody configured (SPEC section 4)."""
        return bool(self.types.get(code, {}).get("creates_action_point", True))

    def name_of(self, code: str) -> str | None:
        entry = self.types.get(code)
        return entry["name"] if entry else None

    def valid_for(self, code: str) -> str | None:
        """How long a delivered document of this type stays valid (None: for good)."""
        return self.types.get(code, {}).get("valid_for")

    def rerequest_on_expiry(self, code: str) -> bool:
        return bool(self.types.get(code, {}).get("rerequest_on_expiry", False))

    def due_in(self, code: str) -> str | None:
        """The default due time of a request of this type, from the moment it is requested."""
        return self.types.get(code, {}).get("due_in")


class ProgressCounts(StrEnum):
    """What the client's progress counts as done (SPEC section 6, PortalSettingsChanged)."""

    RECEIVED = "received"  # a delivered document (uploaded or approved): the default
    APPROVED = "approved"  # only a document the adviser approved


class PortalSettings(Aggregate):
    """The office's choices for the client portal, which the portal projects."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(_NS, office_name("portal-settings", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.progress_counts = ProgressCounts.RECEIVED

    def choose_progress_counts(self, progress_counts: ProgressCounts, by: str) -> None:
        """Changes nothing (and publishes nothing) when it is the office's choice already."""
        if progress_counts is not self.progress_counts:
            self._change_progress_counts(progress_counts, by)

    @event("ProgressCountsChosen")
    def _change_progress_counts(self, progress_counts: ProgressCounts, by: str) -> None:
        self.progress_counts = ProgressCounts(progress_counts)
