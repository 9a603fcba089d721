"""The dossier-check service's application: document state, uploads and action points.

Its commands are small dataclasses named as imperatives, which the HTTP API, the Kafka consumer
and the benchmarks build alike: ``AddRequestedDocument`` (from the scenario topic),
``UploadDocument``, ``CopyDocument``, ``ReviewDocument``, ``ClaimNotApplicable``,
``RemoveDocument``, ``RemoveActionPoint``, ``RemindNow`` (the adviser), ``ViewDocument`` (a
download, recorded), ``ConfigureDocumentType``, ``ChooseProgressCounts``,
``SetReminderSchedule`` (the admin). The schedulers call ``expire_document``, ``mark_overdue``
and ``send_scheduled_reminder``. Refusals are the
domain's errors; a command that loads, changes and saves is ``@retried_on_conflict``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking

from servicekit.eventstore import (
    SetAsList,
    ValueObjectAsDict,
    retried_on_conflict,
    stamp_trace,
)
from services.dossiercontrole_service.domainmodel import (
    VALUE_OBJECTS,
    AccessLog,
    ActionPointNotFound,
    AlreadyDone,
    Document,
    DocumentNotFound,
    DocumentType,
    DocumentTypes,
    DossierCheck,
    Locator,
    NotOpen,
    PortalSettings,
    ProgressCounts,
    ReminderPlan,
    ReminderSchedule,
    RequestIdInUse,
    action_point_id_for,
    document_id_for,
)
from services.dossiercontrole_service.lifecycle import DossierLifecycle


@dataclass(frozen=True)
class AddRequestedDocument:
    """One DocumentRequested, as the application adds it."""

    tenant: str
    dossier_id: str
    request_id: UUID
    subject: dict[str, Any]
    document_type: str
    title: str | None
    action_point: bool | None
    at: datetime
    traceparent: str | None = None  # of the record that asked: its effects continue that trace
    source: str | None = None  # scenario, manual or document_list
    due_at: datetime | None = None  # else the document type's ``due_in`` from ``at``, if any
    period: str | None = None  # with the subject (its person) and type: which document
    instructions: str | None = None  # the adviser's note to the client


def _everyone(_dossier_id: str) -> bool:
    return True


@dataclass(frozen=True)
class UploadDocument:
    """A file's metadata for a document (its bytes are stored already); completes its task.

    ``visible``: whether the caller may see a dossier (a client only its own); ``quota``: the
    most bytes the dossier's uploads may hold together; ``by_client``: the dossier's client
    uploads, only to a document whose action point asks for it."""

    tenant: str
    document_id: UUID
    file: dict[str, Any]
    by: str
    at: datetime
    visible: Callable[[str], bool] = _everyone
    quota: int | None = None
    by_client: bool = False
    more_files: tuple[dict[str, Any], ...] = ()  # a version of several files (SPEC section 9)
    append: bool = False  # add the files to the latest version, not yet reviewed
    most: int | None = None  # the bytes one version may hold in all its files

    @property
    def size(self) -> int:
        return sum(int(file["size"]) for file in (self.file, *self.more_files))


@dataclass(frozen=True)
class ClaimNotApplicable:
    """The client (or adviser) answers an open action point: "niet van toepassing", with a
    note for the adviser (SPEC section 9)."""

    tenant: str
    action_point_id: UUID
    note: str
    by: str
    at: datetime
    visible: Callable[[str], bool] = _everyone


@dataclass(frozen=True)
class CopyDocument:
    """The copy icon: the latest file of another uploaded document of the same dossier."""

    tenant: str
    document_id: UUID
    source_document_id: UUID
    by: str
    at: datetime


@dataclass(frozen=True)
class RemoveDocument:
    """The cross in the dossier check (way 2a): the document and its action point go."""

    tenant: str
    document_id: UUID
    by: str
    at: datetime


@dataclass(frozen=True)
class RemoveActionPoint:
    """The cross under "Actiepunten voor klant" (way 2b): the document stays."""

    tenant: str
    action_point_id: UUID
    by: str
    at: datetime


@dataclass(frozen=True)
class ReviewDocument:
    """The adviser's review of a delivered document: ``approve``, or ``reject`` with a reason
    that the client sees on the reopened action point; of a "not applicable" claim: ``waive``,
    or ``reject``. ``version``: the one the adviser saw, which must still be the latest (None:
    whichever is)."""

    tenant: str
    document_id: UUID
    decision: Literal["approve", "reject", "waive"]
    reason: str | None
    by: str
    at: datetime
    version: int | None = None


@dataclass(frozen=True)
class ViewDocument:
    """A download of a version of a document's file, recorded in the dossier's access log."""

    tenant: str
    dossier_id: str
    document_id: UUID
    version: int
    by: str
    at: datetime
    part: int | None = None  # one file of a version of several; None: the version's first
    merged: bool = False  # the version as one PDF


@dataclass(frozen=True)
class ChooseProgressCounts:
    """The office's choice of what the client's progress counts: received or approved."""

    tenant: str
    progress_counts: ProgressCounts
    by: str


@dataclass(frozen=True)
class ConfigureDocumentType:
    tenant: str
    code: str
    name: str
    creates_action_point: bool
    by: str
    valid_for: str | None = None
    rerequest_on_expiry: bool = False
    due_in: str | None = None


@dataclass(frozen=True)
class SetReminderSchedule:
    """The office's reminder schedule (admin), replaced whole."""

    tenant: str
    before_due: list[str]
    on_due: bool
    every_after_due: str | None
    max_reminders: int
    by: str


@dataclass(frozen=True)
class RemindNow:
    """The adviser asks for one reminder of an open action point now."""

    tenant: str
    action_point_id: UUID
    by: str
    at: datetime


@dataclass
class _Batch:
    """What the requests of one batch loaded and made, saved together at its end."""

    checks: dict[tuple[str, str], DossierCheck] = field(default_factory=dict)
    types: dict[str, DocumentTypes] = field(default_factory=dict)
    locators: list[Locator] = field(default_factory=list)
    placed: dict[UUID, tuple[str, str]] = field(default_factory=dict)


class DossierChecks(DossierLifecycle):
    """Every office's dossier checks and document-type settings; a dossier's closing and
    reopening are its commands too (``lifecycle.DossierLifecycle``)."""

    env = {"AGGREGATE_CACHE_MAXSIZE": "5000", "ORIGINATOR_ID_TYPE": "uuid"}
    # A dossier with thousands of documents loads from its latest snapshot and the events
    # after it, not from its whole history (P6 of issue 9).
    snapshotting_intervals = {DossierCheck: 100, AccessLog: 100}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())
        for value_object in VALUE_OBJECTS:
            transcoder.register(ValueObjectAsDict(value_object, prefix="dossiercontrole"))

    # --- document types (admin) ------------------------------------------------------------------

    def _document_types(self, tenant: str) -> DocumentTypes:
        types: DocumentTypes = self.office_aggregate(DocumentTypes, tenant)
        return types

    @retried_on_conflict()
    def configure_document_type(self, command: ConfigureDocumentType) -> None:
        types = self._document_types(command.tenant)
        types.configure(
            command.code,
            command.name,
            command.creates_action_point,
            command.by,
            command.valid_for,
            command.rerequest_on_expiry,
            command.due_in,
        )
        self.save(types)

    def get_document_types(self, tenant: str) -> list[DocumentType]:
        """The types the office configured, by code."""
        return self._document_types(tenant).configured()

    # --- requests (from the scenario service's topic) ---------------------------------------------

    def _dossier_check(self, tenant: str, dossier_id: str) -> DossierCheck:
        try:
            check: DossierCheck = self.get_owned(
                DossierCheck.create_id(tenant, dossier_id), tenant=tenant, dossier_id=dossier_id
            )
        except AggregateNotFoundError:
            check = DossierCheck(tenant, dossier_id)
        return check

    def add_requested_document(
        self, request: AddRequestedDocument, tracking: Tracking | None = None
    ) -> UUID | None:
        """Add a requested document (and its action point) unless that request was handled or
        the same document type is requested already on that subject.

        Raises ``RequestIdInUse`` when the request id already added a document or an action
        point elsewhere: the ids of a document and its action point derive from the request id.
        """
        return self.add_requested_documents([request], tracking)[0]

    def add_requested_documents(
        self, requests: Sequence[AddRequestedDocument], tracking: Tracking | None = None
    ) -> list[UUID | None]:
        """Add several requests, in order, and store them with ``tracking`` in one transaction
        (a consumed batch); raises, storing nothing, when any one of them cannot be added.

        Each dossier check, document-type list and placed id is loaded once for the batch, so a
        later request sees what an earlier one in the same batch did.

        A request id that placed a document or action point before is nearly always a repeat
        into the same dossier, which adds nothing: the batch is first stored without asking the
        store about each id. A new id that is taken (another dossier's) makes that write fail
        whole, and the batch is done again, asking.
        """
        try:
            return self._add_batch(requests, tracking, ask_ids=False)
        except IntegrityError:
            return self._add_batch(requests, tracking, ask_ids=True)

    def _add_batch(
        self, requests: Sequence[AddRequestedDocument], tracking: Tracking | None, *, ask_ids: bool
    ) -> list[UUID | None]:
        batch = _Batch()
        added = [self._add_requested(batch, request, ask_ids) for request in requests]
        self.save_tracked(tracking, *batch.checks.values(), *batch.locators)
        return added

    def _add_requested(
        self, batch: _Batch, request: AddRequestedDocument, ask_ids: bool
    ) -> UUID | None:
        tenant, dossier_id, request_id = request.tenant, request.dossier_id, request.request_id
        document_type, action_point = request.document_type, request.action_point
        if ask_ids:
            self._check_request_id_is_free(request_id, tenant, dossier_id, batch.placed)
        types = batch.types.get(tenant)
        if types is None:
            types = batch.types[tenant] = self._document_types(tenant)
        policy = types.type_of(document_type)
        check = batch.checks.get((tenant, dossier_id))
        if check is None:
            check = batch.checks[(tenant, dossier_id)] = self._dossier_check(tenant, dossier_id)
        check.ensure_open()  # a closed dossier takes no requests: a dead letter says so
        title, subject, at = request.title, request.subject, request.at
        added = check.request_document(
            request_id,
            subject,
            document_type,
            policy.title(title),
            policy.opens_action_point(action_point),
            at,
            request.source,
            due_at=policy.due_at(at, request.due_at),
            period=request.period,
            instructions=request.instructions,
        )
        stamp_trace(request.traceparent, check)
        # The API addresses documents and action points by id: place them in the dossier.
        for key in added:
            if key is not None:
                locator = Locator(key=key, tenant=tenant, dossier_id=dossier_id)
                stamp_trace(request.traceparent, locator)
                batch.locators.append(locator)
                batch.placed[key] = (tenant, dossier_id)
        return added.document_id

    def _check_request_id_is_free(
        self,
        request_id: UUID,
        tenant: str,
        dossier_id: str,
        placed: dict[UUID, tuple[str, str]],
    ) -> None:
        # A request adds a document, or opens an action point on one requested already.
        for key in (document_id_for(request_id), action_point_id_for(request_id)):
            if key in placed:  # by an earlier request of the same batch
                if placed[key] != (tenant, dossier_id):
                    raise RequestIdInUse(f"request {request_id} already added to another dossier")
                continue
            try:
                locator: Locator = self.repository.get(Locator.create_id(key))
            except AggregateNotFoundError:
                continue
            if (locator.tenant, locator.dossier_id) != (tenant, dossier_id):
                raise RequestIdInUse(f"request {request_id} already added to another dossier")

    # --- queries -------------------------------------------------------------------------------

    def get_dossier_check(self, tenant: str, dossier_id: str) -> DossierCheck:
        return self._dossier_check(tenant, dossier_id)

    def locate(self, tenant: str, key: UUID) -> DossierCheck | None:
        """The dossier check that holds a document or action point of this office, if any."""
        try:
            locator: Locator = self.repository.get(Locator.create_id(key))
        except AggregateNotFoundError:
            return None
        if locator.tenant != tenant:
            return None  # another office's: it does not exist for this caller
        return self._dossier_check(tenant, locator.dossier_id)

    def _locate_document(
        self, tenant: str, document_id: UUID, visible: Callable[[str], bool] = _everyone
    ) -> DossierCheck:
        check = self.locate(tenant, document_id)
        if check is None or not visible(check.dossier_id):
            raise DocumentNotFound(f"document {document_id} not found")
        check.document(document_id)
        return check

    def get_document(
        self, tenant: str, document_id: UUID, visible: Callable[[str], bool] = _everyone
    ) -> tuple[str, Document]:
        """A document of a dossier the caller may see, and that dossier's id (else
        ``DocumentNotFound``); its ``files`` are its versions."""
        check = self._locate_document(tenant, document_id, visible)
        return check.dossier_id, check.document(document_id)

    @retried_on_conflict()
    def record_view(self, command: ViewDocument) -> None:
        """A download, in the dossier's access log (its history); never published."""
        tenant, dossier_id = command.tenant, command.dossier_id
        log: AccessLog = self.office_aggregate(AccessLog, tenant, dossier_id=dossier_id)
        log.record_view(
            command.document_id,
            command.version,
            command.by,
            command.at,
            part=command.part,
            merged=command.merged,
        )
        self.save(log)

    # --- adviser and client commands -------------------------------------------------------------

    def check_upload(self, command: UploadDocument) -> None:
        """Refuses an upload before its bytes are stored: a document that does not exist (or
        was removed) for the caller, or that does not ask the client for it when the client
        uploads, or a dossier without room for the file's ``size``. The upload checks both
        again, exactly, when it is saved."""
        check = self._locate_document(command.tenant, command.document_id, command.visible)
        check.ensure_open()
        check.deliverable(command.document_id, by_client=command.by_client)
        version = None
        if command.append:
            version = check.appends_to(command.document_id, by_client=command.by_client)
        sizes = [int(file["size"]) for file in (command.file, *command.more_files)]
        check.ensure_version_room(command.document_id, version, sizes, command.most)
        check.ensure_room_for(command.size, command.quota)

    def upload(self, command: UploadDocument) -> DossierCheck:
        def deliver(check: DossierCheck) -> None:
            document_id, by_client = command.document_id, command.by_client
            if command.append and check.appends_to(document_id, by_client=by_client):
                files = (command.file, *command.more_files)
                check.append_files(
                    document_id,
                    files,
                    command.by,
                    command.at,
                    quota=command.quota,
                    most=command.most,
                    by_client=by_client,
                )
                return
            sizes = [int(file["size"]) for file in (command.file, *command.more_files)]
            check.ensure_version_room(document_id, None, sizes, command.most)
            check.upload(
                document_id,
                command.file,
                command.by,
                command.at,
                quota=command.quota,
                valid_for=self._valid_for(command.tenant, check, document_id),
                by_client=by_client,
                more_files=command.more_files,
            )

        return self._change_document(command.tenant, command.document_id, deliver, command.visible)

    @retried_on_conflict()
    def claim_not_applicable(self, command: ClaimNotApplicable) -> DossierCheck:
        check = self.locate(command.tenant, command.action_point_id)
        if check is None or not command.visible(check.dossier_id):
            raise ActionPointNotFound(f"action point {command.action_point_id} not found")
        check.ensure_open()
        check.claim_not_applicable(command.action_point_id, command.note, command.by, command.at)
        self.save(check)
        return check

    def copy(self, command: CopyDocument) -> DossierCheck:
        return self._change_document(
            command.tenant,
            command.document_id,
            lambda check: check.copy_from(
                command.document_id,
                command.source_document_id,
                command.by,
                command.at,
                self._valid_for(command.tenant, check, command.document_id),
            ),
        )

    def review(self, command: ReviewDocument) -> DossierCheck:
        def decide(check: DossierCheck) -> None:
            if command.decision == "approve":
                check.approve(command.document_id, command.by, command.at, command.version)
            elif command.decision == "waive":
                check.waive(command.document_id, command.by, command.at)
            else:
                reason = command.reason or ""
                check.reject(command.document_id, reason, command.by, command.at, command.version)

        return self._change_document(command.tenant, command.document_id, decide)

    def _valid_for(self, tenant: str, check: DossierCheck, document_id: UUID) -> str | None:
        """The validity window of the document's type now: a delivery's window starts with it."""
        document_type = check.document(document_id).document_type
        return self._document_types(tenant).type_of(document_type).valid_for

    def remove_document(self, command: RemoveDocument) -> None:
        self._change_document(
            command.tenant,
            command.document_id,
            lambda check: check.remove_document(command.document_id, command.by, command.at),
        )

    @retried_on_conflict()
    def _change_document(
        self,
        tenant: str,
        document_id: UUID,
        change: Callable[[DossierCheck], None],
        visible: Callable[[str], bool] = _everyone,
    ) -> DossierCheck:
        """Load the dossier check that holds the document, change it, save it (again, on a
        concurrent save)."""
        check = self._locate_document(tenant, document_id, visible)
        check.ensure_open()
        change(check)
        self.save(check)
        return check

    @retried_on_conflict()
    def remove_action_point(self, command: RemoveActionPoint) -> None:
        check = self.locate(command.tenant, command.action_point_id)
        if check is None:
            raise ActionPointNotFound(f"action point {command.action_point_id} not found")
        check.ensure_open()
        check.remove_action_point(command.action_point_id, command.by, command.at)
        self.save(check)

    # --- the office's portal settings (admin) ----------------------------------------------------

    def _portal_settings(self, tenant: str) -> PortalSettings:
        settings: PortalSettings = self.office_aggregate(PortalSettings, tenant)
        return settings

    @retried_on_conflict()
    def choose_progress_counts(self, command: ChooseProgressCounts) -> None:
        settings = self._portal_settings(command.tenant)
        settings.choose_progress_counts(command.progress_counts, command.by)
        self.save(settings)

    def get_progress_counts(self, tenant: str) -> ProgressCounts:
        """What the office's client progress counts as done (``received`` until it chooses)."""
        return self._portal_settings(tenant).progress_counts

    # --- validity windows (the expiry scheduler's action) -----------------------------------------

    @retried_on_conflict()
    def expire_document(self, dossier_check_id: UUID, document_id: UUID, now: datetime) -> bool:
        """Expire the document if its validity window has passed by ``now``, and request it again
        where its type says so (read now); False when there was nothing to do (expired already by
        another replica, delivered again since, removed). Once only: the dossier check is saved
        with the version it was loaded at, so of two racing replicas one save wins and the other,
        loading again, finds it expired."""
        try:
            check: DossierCheck = self.repository.get(dossier_check_id)
        except AggregateNotFoundError:
            return False
        document = check.documents.get(str(document_id))
        if document is None:
            return False
        policy = self._document_types(check.tenant).type_of(document.document_type)
        again = check.expire(
            document_id,
            now,
            rerequest=policy.rerequest_on_expiry and not check.closed,
            with_action_point=policy.opens_action_point(None),
            due_at=policy.due_at(now),
        )
        if again is None:
            return False
        # The API addresses the document requested again, and its action point, by id.
        locators = [
            Locator(key=key, tenant=check.tenant, dossier_id=check.dossier_id)
            for key in again
            if key is not None
        ]
        self.save(check, *locators)
        return True

    # --- due dates: overdue and reminders (SPEC section 6) ---------------------------------------

    def _reminder_schedule(self, tenant: str) -> ReminderSchedule:
        schedule: ReminderSchedule = self.office_aggregate(ReminderSchedule, tenant)
        return schedule

    def get_reminder_schedule(self, tenant: str) -> ReminderPlan:
        return self._reminder_schedule(tenant).plan

    @retried_on_conflict()
    def set_reminder_schedule(self, command: SetReminderSchedule) -> ReminderPlan:
        schedule = self._reminder_schedule(command.tenant)
        schedule.change(
            list(command.before_due),
            command.on_due,
            command.every_after_due,
            command.max_reminders,
            command.by,
        )
        self.save(schedule)
        return schedule.plan

    @retried_on_conflict()
    def remind_now(self, command: RemindNow) -> None:
        """One reminder of an open action point now, by the adviser (404, 409 when not open)."""
        check = self.locate(command.tenant, command.action_point_id)
        if check is None:
            raise ActionPointNotFound(f"action point {command.action_point_id} not found")
        check.ensure_open()
        _, point = check.open_point(command.action_point_id)
        check.remind(command.action_point_id, point.reminders + 1, command.at, by=command.by)
        self.save(check)

    @retried_on_conflict()
    def mark_overdue(self, check_id: UUID, action_point_id: UUID, now: datetime) -> bool:
        """The scheduler's step at a due date: True when it marked the point overdue, False when
        there was nothing to do (done already by another replica, completed, not due yet)."""
        check: DossierCheck = self.repository.get(check_id)
        try:
            check.mark_overdue(action_point_id, now)
        except (AlreadyDone, NotOpen, ActionPointNotFound):
            return False
        self.save(check)
        return True

    @retried_on_conflict()
    def send_scheduled_reminder(self, check_id: UUID, action_point_id: UUID, now: datetime) -> bool:
        """The scheduler's step at a reminder moment of the office's schedule (as it is now):
        True when it sent one, False when there was nothing to send."""
        check: DossierCheck = self.repository.get(check_id)
        plan = self.get_reminder_schedule(check.tenant)
        try:
            _, point = check.open_point(action_point_id)
            moment = plan.latest_due_for(point, now)
            if moment is None:
                return False
            check.remind(action_point_id, point.reminders + 1, now, scheduled_for=moment)
        except (AlreadyDone, NotOpen, ActionPointNotFound):
            return False
        self.save(check)
        return True
