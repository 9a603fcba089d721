"""The dossier-check service's application: document state, uploads and action points."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import JSONTranscoder, Tracking, Transcoding

from servicekit.eventstore import TrackedApplication, stamp_trace
from services.dossiercontrole_service.domainmodel import (
    ActionPointNotFound,
    DocumentNotFound,
    DocumentTypes,
    DossierCheck,
    Locator,
    RequestIdInUse,
    action_point_id_for,
    document_id_for,
)


class DocumentRequest(NamedTuple):
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


@dataclass
class _Batch:
    """What the requests of one batch loaded and made, saved together at its end."""

    checks: dict[tuple[str, str], DossierCheck] = field(default_factory=dict)
    types: dict[str, DocumentTypes] = field(default_factory=dict)
    locators: list[Locator] = field(default_factory=list)
    placed: dict[UUID, tuple[str, str]] = field(default_factory=dict)


class SetAsList(Transcoding):
    """A set in a snapshot (a dossier check's handled request ids), stored as a sorted list."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


class DossierChecks(TrackedApplication):
    """Every office's dossier checks and document-type settings."""

    env = {"AGGREGATE_CACHE_MAXSIZE": "5000", "ORIGINATOR_ID_TYPE": "uuid"}
    # A dossier with thousands of documents loads from its latest snapshot and the events
    # after it, not from its whole history (P6 of issue 9).
    snapshotting_intervals = {DossierCheck: 100}

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())

    # --- document types (admin) ------------------------------------------------------------------

    def _document_types(self, tenant: str) -> DocumentTypes:
        try:
            types: DocumentTypes = self.get_owned(DocumentTypes.create_id(tenant), tenant=tenant)
        except AggregateNotFoundError:
            types = DocumentTypes(tenant)
        return types

    def configure_document_type(
        self, tenant: str, code: str, name: str, creates_action_point: bool, by: str
    ) -> None:
        def command() -> None:
            types = self._document_types(tenant)
            types.configure(code, name, creates_action_point, by)
            self.save(types)

        self.retry_on_conflict(command)

    def get_document_types(self, tenant: str) -> list[dict[str, Any]]:
        return sorted(self._document_types(tenant).types.values(), key=lambda t: t["code"])

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
        self,
        tenant: str,
        dossier_id: str,
        request_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str | None,
        action_point: bool | None,
        at: datetime,
        tracking: Tracking | None = None,
    ) -> UUID | None:
        """Add a requested document (and its action point) unless that request was handled or
        the same document type is requested already on that subject.

        Raises ``RequestIdInUse`` when the request id already added a document or an action
        point elsewhere: the ids of a document and its action point derive from the request id.
        """
        request = DocumentRequest(
            tenant, dossier_id, request_id, subject, document_type, title, action_point, at
        )
        return self.add_requested_documents([request], tracking)[0]

    def add_requested_documents(
        self, requests: Sequence[DocumentRequest], tracking: Tracking | None = None
    ) -> list[UUID | None]:
        """Add several requests, in order, and store them with ``tracking`` in one transaction
        (a consumed batch); raises, storing nothing, when any one of them cannot be added.

        Each dossier check, document-type list and placed id is loaded once for the batch, so a
        later request sees what an earlier one in the same batch did.
        """
        batch = _Batch()
        added = [self._add_requested(batch, request) for request in requests]
        self.save_tracked(tracking, *batch.checks.values(), *batch.locators)
        return added

    def _add_requested(self, batch: _Batch, request: DocumentRequest) -> UUID | None:
        tenant, dossier_id, request_id = request.tenant, request.dossier_id, request.request_id
        document_type, action_point = request.document_type, request.action_point
        self._check_request_id_is_free(request_id, tenant, dossier_id, batch.placed)
        types = batch.types.get(tenant)
        if types is None:
            types = batch.types[tenant] = self._document_types(tenant)
        with_action_point = (
            action_point if action_point is not None else types.creates_action_point(document_type)
        )
        check = batch.checks.get((tenant, dossier_id))
        if check is None:
            check = batch.checks[(tenant, dossier_id)] = self._dossier_check(tenant, dossier_id)
        title, subject, at = request.title, request.subject, request.at
        added = check.request_document(
            request_id,
            subject,
            document_type,
            title or types.name_of(document_type) or document_type.replace("_", " ").capitalize(),
            with_action_point,
            at,
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

    def _locate_document(self, tenant: str, document_id: UUID) -> DossierCheck:
        check = self.locate(tenant, document_id)
        if check is None:
            raise DocumentNotFound(f"document {document_id} not found")
        check.document(document_id)
        return check

    # --- adviser and client commands -------------------------------------------------------------

    def upload(
        self,
        tenant: str,
        document_id: UUID,
        file: dict[str, Any],
        by: str,
        at: datetime,
        allowed: Callable[[str], bool] = lambda _dossier_id: True,
        quota: int | None = None,
    ) -> DossierCheck:
        def command() -> DossierCheck:
            check = self._locate_document(tenant, document_id)
            if not allowed(check.dossier_id):
                raise DocumentNotFound(f"document {document_id} not found")
            check.upload(document_id, file, by, at, quota=quota)
            self.save(check)
            return check

        return self.retry_on_conflict(command)

    def copy(
        self, tenant: str, document_id: UUID, source_document_id: UUID, by: str, at: datetime
    ) -> DossierCheck:
        def command() -> DossierCheck:
            check = self._locate_document(tenant, document_id)
            check.copy_from(document_id, source_document_id, by, at)
            self.save(check)
            return check

        return self.retry_on_conflict(command)

    def remove_document(self, tenant: str, document_id: UUID, by: str, at: datetime) -> None:
        def command() -> None:
            check = self._locate_document(tenant, document_id)
            check.remove_document(document_id, by, at)
            self.save(check)

        self.retry_on_conflict(command)

    def remove_action_point(
        self, tenant: str, action_point_id: UUID, by: str, at: datetime
    ) -> None:
        def command() -> None:
            check = self.locate(tenant, action_point_id)
            if check is None:
                raise ActionPointNotFound(f"action point {action_point_id} not found")
            check.remove_action_point(action_point_id, by, at)
            self.save(check)

        self.retry_on_conflict(command)
