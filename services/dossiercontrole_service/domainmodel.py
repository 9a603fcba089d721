"""The dossier check (dossiercontrole): documents per subject, their files and action points.

One ``DossierCheck`` aggregate per dossier holds every requested document (stuk) and, for most
of them, the client's action point (actiepunt voor klant). Keeping a dossier in one aggregate
makes its rules atomic: no second open request for the same document type on a subject, no
deletion once a file was uploaded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

_NS = uuid5(NAMESPACE_URL, "urn:actiepunten:dossiercontrole")


class DossierCheckError(Exception):
    """A command the domain refuses; the HTTP layer maps it to a 4xx."""


class DocumentNotFound(DossierCheckError):
    pass


class ActionPointNotFound(DossierCheckError):
    pass


class DocumentHasUpload(DossierCheckError):
    pass


class NothingUploaded(DossierCheckError):
    pass


class UploadQuotaExceeded(DossierCheckError):
    pass


class RequestIdInUse(DossierCheckError):
    """A request id that already added a document or an action point to another dossier (or
    office): a faulty producer. Accepting it would give two dossiers one id."""


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


class Requested(NamedTuple):
    """What a document request added: a new document (with its action point, if any), or only
    an action point on the document that was requested already, or nothing."""

    document_id: UUID | None = None
    action_point_id: UUID | None = None


class DossierCheck(Aggregate):
    """All requested documents of one client's dossier, in one office."""

    @staticmethod
    def create_id(tenant: str, dossier_id: str) -> UUID:
        return uuid5(_NS, office_name("dossier", tenant, dossier_id))

    @event("Opened")
    def __init__(self, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.documents: dict[str, dict[str, Any]] = {}
        self.handled_requests: set[str] = set()

    # --- requests ------------------------------------------------------------------------------

    def open_request_for(
        self, subject: dict[str, Any], document_type: str
    ) -> dict[str, Any] | None:
        for document in self.documents.values():
            if (
                document["status"] == "requested"
                and not document["removed"]
                and document["subject"] == subject
                and document["document_type"] == document_type
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
        existing = self.open_request_for(subject, document_type)
        if existing is not None:
            self._merge_request(self.tenant, self.dossier_id, request_id, existing["document_id"])
            if with_action_point and existing["action_point"] is None:
                opened = action_point_id_for(request_id)
                self._open_action_point(
                    self.tenant,
                    self.dossier_id,
                    UUID(existing["document_id"]),
                    opened,
                    request_id,
                    existing["subject"],
                    existing["document_type"],
                    existing["title"],
                    at,
                )
                return Requested(action_point_id=opened)
            return Requested()
        document_id = document_id_for(request_id)
        action_point_id = action_point_id_for(request_id) if with_action_point else None
        self._add_document(
            self.tenant,
            self.dossier_id,
            request_id,
            document_id,
            subject,
            document_type,
            title,
            action_point_id,
            at,
        )
        return Requested(document_id, action_point_id)

    @event("RequestMerged")
    def _merge_request(
        self, tenant: str, dossier_id: str, request_id: UUID, document_id: str
    ) -> None:
        # Two scenarios asking for the same document give the client one task.
        self.handled_requests.add(str(request_id))

    @event("ActionPointOpened")
    def _open_action_point(
        self,
        tenant: str,
        dossier_id: str,
        document_id: UUID,
        action_point_id: UUID,
        request_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str,
        at: datetime,
    ) -> None:
        # The document's facts ride along so that the event can be published on its own.
        self.documents[str(document_id)]["action_point"] = {
            "action_point_id": str(action_point_id),
            "status": "open",
            "created_at": at,
            "completed_at": None,
        }

    @event("DocumentAdded")
    def _add_document(
        self,
        tenant: str,
        dossier_id: str,
        request_id: UUID,
        document_id: UUID,
        subject: dict[str, Any],
        document_type: str,
        title: str,
        action_point_id: UUID | None,
        at: datetime,
    ) -> None:
        self.handled_requests.add(str(request_id))
        self.documents[str(document_id)] = {
            "document_id": str(document_id),
            "request_id": str(request_id),
            "subject": subject,
            "document_type": document_type,
            "title": title,
            "status": "requested",
            "removed": False,
            "files": [],
            "created_at": at,
            "action_point": (
                {
                    "action_point_id": str(action_point_id),
                    "status": "open",
                    "created_at": at,
                    "completed_at": None,
                }
                if action_point_id is not None
                else None
            ),
        }

    # --- queries -------------------------------------------------------------------------------

    def document(self, document_id: UUID) -> dict[str, Any]:
        document = self.documents.get(str(document_id))
        if document is None or document["removed"]:
            raise DocumentNotFound(f"document {document_id} not found")
        return document

    def current_documents(self) -> list[dict[str, Any]]:
        return [d for d in self.documents.values() if not d["removed"]]

    def document_of_action_point(self, action_point_id: UUID) -> dict[str, Any]:
        for document in self.current_documents():
            point = document["action_point"]
            if (
                point
                and point["action_point_id"] == str(action_point_id)
                and point["status"] != "removed"
            ):
                return document
        raise ActionPointNotFound(f"action point {action_point_id} not found")

    # --- uploads -------------------------------------------------------------------------------

    def uploaded_bytes(self) -> int:
        """The bytes uploaded into this dossier; a copy reuses a stored file and adds none."""
        return sum(
            int(file["size"])
            for document in self.documents.values()
            for file in document["files"]
            if not file.get("copied_from")
        )

    def upload(
        self,
        document_id: UUID,
        file: dict[str, Any],
        by: str,
        at: datetime,
        copied_from: UUID | None = None,
        quota: int | None = None,
    ) -> None:
        """A new version of the document's file; completes its open action point.

        ``quota``: the most bytes the dossier's uploads may hold together.
        """
        document = self.document(document_id)
        if quota is not None and copied_from is None:
            used = self.uploaded_bytes()
            if used + int(file["size"]) > quota:
                raise UploadQuotaExceeded(
                    f"dossier {self.dossier_id} holds {used} bytes of uploads; "
                    f"{file['size']} more would pass its quota of {quota} bytes"
                )
        point = document["action_point"]
        completes = point["action_point_id"] if point and point["status"] == "open" else None
        self._upload(
            self.tenant,
            self.dossier_id,
            document_id,
            len(document["files"]) + 1,
            file,
            by,
            at,
            copied_from,
            completes,
        )

    def copy_from(self, document_id: UUID, source_document_id: UUID, by: str, at: datetime) -> None:
        """The copy icon: reuse the latest file of another uploaded document of this dossier."""
        source = self.document(source_document_id)
        if not source["files"]:
            raise NothingUploaded(f"document {source_document_id} has no uploaded file to copy")
        latest = source["files"][-1]
        file = {key: latest[key] for key in ("sha256", "size", "content_type", "filename")}
        self.upload(document_id, file, by, at, copied_from=source_document_id)

    @event("DocumentUploaded")
    def _upload(
        self,
        tenant: str,
        dossier_id: str,
        document_id: UUID,
        version: int,
        file: dict[str, Any],
        by: str,
        at: datetime,
        copied_from: UUID | None,
        completes_action_point: str | None,
    ) -> None:
        document = self.documents[str(document_id)]
        document["status"] = "uploaded"
        document["files"].append(
            {
                **file,
                "version": version,
                "uploaded_at": at,
                "uploaded_by": by,
                "copied_from": str(copied_from) if copied_from else None,
            }
        )
        if completes_action_point:
            document["action_point"].update(status="completed", completed_at=at)

    # --- the two ways to remove an action point --------------------------------------------------

    def remove_document(self, document_id: UUID, by: str, at: datetime) -> None:
        """The cross in the dossier check; only while nothing was uploaded for it."""
        document = self.document(document_id)
        if document["files"]:
            raise DocumentHasUpload(f"document {document_id} has an uploaded file")
        point = document["action_point"]
        removes = point["action_point_id"] if point and point["status"] == "open" else None
        self._remove_document(self.tenant, self.dossier_id, document_id, by, at, removes)

    @event("DocumentRemoved")
    def _remove_document(
        self,
        tenant: str,
        dossier_id: str,
        document_id: UUID,
        by: str,
        at: datetime,
        removes_action_point: str | None,
    ) -> None:
        document = self.documents[str(document_id)]
        document["removed"] = True
        if removes_action_point:
            document["action_point"]["status"] = "removed"

    def remove_action_point(self, action_point_id: UUID, by: str, at: datetime) -> None:
        """The cross under "Actiepunten voor klant": the document stays in the dossier check."""
        document = self.document_of_action_point(action_point_id)
        self._remove_action_point(
            self.tenant, self.dossier_id, UUID(document["document_id"]), action_point_id, by, at
        )

    @event("ActionPointRemoved")
    def _remove_action_point(
        self,
        tenant: str,
        dossier_id: str,
        document_id: UUID,
        action_point_id: UUID,
        by: str,
        at: datetime,
    ) -> None:
        self.documents[str(document_id)]["action_point"]["status"] = "removed"


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
    """The office's document-type settings (stuksoorten): whether a type opens an action point."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(_NS, office_name("document-types", tenant))

    @event("Opened")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.types: dict[str, dict[str, Any]] = {}

    def configure(self, code: str, name: str, creates_action_point: bool, by: str) -> None:
        self._configure(self.tenant, code, name, creates_action_point, by)

    @event("Configured")
    def _configure(
        self, tenant: str, code: str, name: str, creates_action_point: bool, by: str
    ) -> None:
        self.types[code] = {
            "code": code,
            "name": name,
            "creates_action_point": creates_action_point,
        }

    def creates_action_point(self, code: str) -> bool:
        """True for a type nobody configured (SPEC section 4)."""
        return bool(self.types.get(code, {}).get("creates_action_point", True))

    def name_of(self, code: str) -> str | None:
        entry = self.types.get(code)
        return entry["name"] if entry else None
