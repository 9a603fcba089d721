"""The dossier check (dossiercontrole): documents per subject, their files and action points.

One ``DossierCheck`` aggregate per dossier holds every requested document (stuk) and, for most
of them, the client's action point (actiepunt voor klant). Keeping a dossier in one aggregate
makes its rules atomic: no second open request for the same document type on a subject, no
deletion once a file was uploaded. Its commands consult the move tables of ``statuses``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import office_name
from services.dossiercontrole_service.domainmodel.claims import Claims
from services.dossiercontrole_service.domainmodel.closing import Closing
from services.dossiercontrole_service.domainmodel.deliveries import Deliveries
from services.dossiercontrole_service.domainmodel.errors import (
    AlreadyDone,
    DocumentHasUpload,
    MoveRefused,
    NothingUploaded,
    NotOpen,
    ReasonRequired,
    SourceDocumentNotFound,
)
from services.dossiercontrole_service.domainmodel.identity import (
    NAMESPACE,
    action_point_id_for,
    document_id_for,
    rerequest_id_for,
    without_owner,
)
from services.dossiercontrole_service.domainmodel.statuses import (
    DOCUMENT_MOVES,
    ActionPointCommand,
    ActionPointStatus,
    DocumentCommand,
    DocumentStatus,
    Move,
)
from services.dossiercontrole_service.domainmodel.values import (
    ActionPoint,
    Document,
    StoredFile,
    Subject,
    validity_end,
)


class Requested(NamedTuple):
    """What a document request added: a new document (with its action point, if any), or only
    an action point on the document that was requested already, or nothing."""

    document_id: UUID | None = None
    action_point_id: UUID | None = None


@functools.lru_cache(maxsize=10_000)
def _dossier_id(tenant: str, dossier_id: str) -> UUID:
    """A dossier check's id, kept for the dossiers seen last: the key ring and the store ask for
    it at every event of a dossier (a uuid5 each time was 3 % of the dossier check's CPU)."""
    return uuid5(NAMESPACE, office_name("dossier", tenant, dossier_id))


class DossierCheck(Closing, Claims, Deliveries):
    """All requested documents of one client's dossier, in one office."""

    # Snapshots of class version 1 kept documents as dicts (``upcast_v1_v2``).
    class_version = 2

    class Event(Aggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(without_owner)

    class Opened(Aggregate.Created):
        class_version = 1  # the aggregate's identity: the one event that keeps its owner
        tenant: str
        dossier_id: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["documents"] = {key: Document.of(value) for key, value in state["documents"].items()}

    @staticmethod
    def create_id(tenant: str, dossier_id: str) -> UUID:
        return _dossier_id(tenant, dossier_id)

    @event(Opened)
    def __init__(self, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.documents: dict[str, Document] = {}
        self.handled_requests: set[str] = set()

    # --- requests ------------------------------------------------------------------------------

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
        period: str | None = None,
        instructions: str | None = None,
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
        existing = self.open_request_for(Subject.of(subject), document_type, period)
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
            period=period,
            instructions=instructions,
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
            existing.document_id, opened, request_id, at, existing.due_at or due_at
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
        at: datetime,
        due_at: datetime | None = None,
    ) -> None:
        # Stored before: copies of the document's subject, type and title (the outbox reads
        # them from the dossier check after the event; loading ignores them).
        point = ActionPoint(action_point_id, ActionPointStatus.OPEN, at, due_at=due_at)
        self._put(replace(self.documents[str(document_id)], action_point=point))

    class DocumentAdded(Event):
        # Class version 3 added where the request came from, and the expired document that a
        # document requested again replaces; class version 4 its due date (SPEC section 6);
        # 5 its period and instructions (SPEC section 9).
        class_version = 5
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
        period: str | None
        instructions: str | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.update(source=None, replaces_document_id=None)

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            state.update(due_at=None)

        @staticmethod
        def upcast_v4_v5(state: dict[str, Any]) -> None:
            state.update(period=None, instructions=None)

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
        period: str | None = None,
        instructions: str | None = None,
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
                period=period,
                instructions=instructions,
            )
        )

    def _put(self, document: Document) -> None:
        self.documents[str(document.document_id)] = document

    def _move(self, document: Document, command: DocumentCommand) -> Move:
        move = DOCUMENT_MOVES.get((document.status, command))
        if move is None:
            raise MoveRefused(
                f"document {document.document_id} is {document.status.value}: "
                f"no {command.value} now"
            )
        return move

    # --- uploads -------------------------------------------------------------------------------

    def upload(
        self,
        document_id: UUID,
        file: dict[str, Any],
        by: str,
        at: datetime,
        copied_from: UUID | None = None,
        quota: int | None = None,
        valid_for: str | None = None,
        by_client: bool = False,
        more_files: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A new version of the document's file (``file``, and ``more_files`` for a version of
        several); completes its open action point.

        ``quota``: the most bytes the dossier's uploads may hold together; ``valid_for``: the
        document type's validity window now (ISO 8601), which each upload restarts;
        ``by_client``: the dossier's client delivers, only where asked (``deliverable``).
        """
        document = self.deliverable(document_id, by_client=by_client)
        move = self._move(document, DocumentCommand.UPLOAD)
        if copied_from is None:
            self.ensure_room_for(sum(int(f["size"]) for f in (file, *more_files)), quota)
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
            [dict(f) for f in more_files] or None,
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
        latest = source.files[-1]
        self.upload(
            document_id,
            latest.metadata(),
            by,
            at,
            copied_from=source_document_id,
            valid_for=valid_for,
            more_files=[part.metadata() for part in latest.more],
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
        # A version of several files (SPEC section 9): the files after ``file``. Older events
        # lack it and read this default (a single file): no new class version.
        more_files: list[dict[str, Any]] | None = None

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
        more_files: list[dict[str, Any]] | None = None,  # a version of several files
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
                "more": more_files,
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
                note=None,
                valid_until=valid_until,
            )
        )

    # --- the adviser's review --------------------------------------------------------------------

    def approve(self, document_id: UUID, by: str, at: datetime, version: int | None = None) -> None:
        """The adviser accepts the delivered file (its latest version, which must be the
        ``version`` the adviser saw, when given); its task stays done."""
        document = self.document(document_id)
        self._move(document, DocumentCommand.APPROVE)
        self._approve(document_id, document.reviewed(version), by, at)

    @event("DocumentApproved")
    def _approve(self, document_id: UUID, version: int, by: str, at: datetime) -> None:
        document = self.documents[str(document_id)]
        move = DOCUMENT_MOVES[(document.status, DocumentCommand.APPROVE)]
        self._put(replace(document, status=move.becomes or document.status))

    def reject(
        self, document_id: UUID, reason: str, by: str, at: datetime, version: int | None = None
    ) -> None:
        """The adviser refuses the delivered file (its latest version, which must be the
        ``version`` the adviser saw, when given) with a reason for the client: the client's
        action point opens again with it, and the file stays as a version (audit trail). A
        "not applicable" claim is refused the same way (``Claims.refuse_claim``)."""
        if self.document(document_id).status is DocumentStatus.NOT_APPLICABLE_CLAIMED:
            return self.refuse_claim(document_id, reason, by, at)
        reason = reason.strip()
        if not reason:
            raise ReasonRequired("a rejection needs a reason for the client")
        document = self.document(document_id)
        move = self._move(document, DocumentCommand.REJECT)
        reviewed = document.reviewed(version)
        reopens = document.action_point_would(move.action_point) if move.action_point else None
        self._reject(document_id, reviewed, reason, by, at, str(reopens) if reopens else None)

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
        self._put(self.documents[str(document_id)].rejected(reason, at, reopens_action_point))

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
        kind = (document.subject, document.document_type, document.period)
        if rerequest and self.open_request_for(*kind) is None:
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
                document.period,
                document.instructions,
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
        self._remind(document.document_id, action_point_id, number, scheduled_for, by, at)

    @event("ActionPointReminderDue")
    def _remind(
        self,
        document_id: UUID,
        action_point_id: UUID,
        number: int,
        scheduled_for: datetime | None,
        by: str | None,
        at: datetime,
    ) -> None:
        # Stored before: copies of the document's type, title and due date and the dossier's
        # open items (the outbox reads them from the dossier check after the event).
        document = self.documents[str(document_id)]
        point = document.action_point
        assert point is not None
        point = replace(
            point,
            reminders=number,
            reminded_for=scheduled_for if scheduled_for is not None else point.reminded_for,
        )
        self._put(replace(document, action_point=point))
