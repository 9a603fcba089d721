"""The evidence pack of a dossier (SPEC section 11): what the dossier check held at a moment,
the files it names, and a hash chain over the dossier check's stored events up to that moment.

``Evidence.pack`` reads the dossier check's stored events (as the recorder holds them), finds
the last one at or before the moment, loads the aggregate at that version, and collects from the
events what the state does not keep: each review (who, when, why) and each request of a document
(with its source). ``Pack.chunks`` then writes the ZIP as it is sent: the files from the blob
store a chunk at a time, then ``chain.json`` and ``manifest.json`` (last, so it can say which
file was missing from the store). ``zipfile`` writes to a stream that cannot seek (each member
with a data descriptor), so nothing holds the whole ZIP.

``Evidence.chain`` recomputes the links from the store for ``actiepunten evidence verify``. The
links are over the stored bytes (``servicekit.hashchain``): an erasure deletes the dossier's key
and files, never an event, so a pack taken before it still verifies after.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from servicekit.crypto import ERASED
from servicekit.domain import Invalid, NotFound
from servicekit.hashchain import GENESIS, Record, last_link, links
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.blobstore import Blobs
from services.dossiercontrole_service.domainmodel import Document, DossierCheck, StoredFile

FORMAT = "actiepunten-evidence/1"
MANIFEST = "manifest.json"
CHAIN = "chain.json"

_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
_REVIEWS = {
    "DocumentApproved": "approved",
    "DocumentRejected": "rejected",
    "DocumentWaived": "waived",
    "NotApplicableRefused": "claim_refused",
}
_ERASED_TOPIC = ".DossierErased"


class MomentBeforeDossier(Invalid):
    """``at`` before the dossier check's first event: there is nothing to show."""


class MomentInFuture(Invalid):
    """``at`` after now: the dossier may still change until then."""


class ChainNotStored(NotFound):
    """The store holds fewer events of the dossier than asked for."""


def _name(event: Any) -> str:
    # Events of an aggregate part keep their part's name (``Claims.DocumentWaived``).
    return type(event).__qualname__.rsplit(".", 1)[-1]


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} in a manifest")


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_text).encode()


def file_path(sha256: str, content_type: str) -> str:
    """Where a stored file is in the ZIP: once per content, however many versions hold it."""
    return f"files/{sha256}.{_EXTENSIONS.get(content_type, 'bin')}"


@dataclass
class Pack:
    """An evidence pack, ready to be written: its manifest, its chain and the files to copy."""

    manifest: dict[str, Any]
    chain: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)  # ZIP path -> SHA-256

    def chunks(self, blobs: Blobs) -> Iterator[bytes]:
        """The ZIP, written as it is read: files first, then the chain, then the manifest."""
        sink = _Sink()
        moment = datetime.fromisoformat(self.manifest["made_at"]).astimezone(UTC)
        stamp = moment.timetuple()[:6]
        with zipfile.ZipFile(sink, "w") as archive:
            for path, sha256 in self.files.items():
                blocks = blobs.open_chunks(sha256)
                try:
                    first = next(blocks, b"")
                except KeyError:
                    self._missing(sha256)
                    continue
                info = zipfile.ZipInfo(path, date_time=stamp)  # stored: PDF, JPEG, PNG
                try:
                    with archive.open(info, "w") as member:
                        for block in _and(first, blocks):
                            member.write(block)
                            yield sink.take()
                finally:
                    blocks.close()  # a client gone mid-file: give back the file or connection
                yield sink.take()
            for name, content in ((CHAIN, self.chain), (MANIFEST, self.manifest)):
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, _json(content))
                yield sink.take()
        yield sink.take()

    def _missing(self, sha256: str) -> None:
        """A file the blob store does not hold (an erasure that raced the pack): the manifest
        says so at each version that names it."""
        for document in self.manifest["documents"]:
            for version in document["versions"]:
                for part in version["files"]:
                    if part["sha256"] == sha256 and part["path"]:
                        part["path"] = None
                        part["absent"] = "missing from the blob store"


def _and(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


class _Sink(io.RawIOBase):
    """A write-only stream that cannot seek: ``zipfile`` then writes each member's sizes after
    it (a data descriptor), and what it wrote so far is taken away chunk by chunk."""

    def __init__(self) -> None:
        super().__init__()
        self._written: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        block = bytes(data)
        self._written.append(block)
        return len(block)

    def take(self) -> bytes:
        taken = b"".join(self._written)
        self._written.clear()
        return taken


@dataclass(frozen=True)
class ChainState:
    """The chain of a dossier's stored events up to ``version``, recomputed from the store."""

    dossier_id: str
    version: int
    last_link: str
    erased_at: datetime | None
    erased_by: str | None


class Evidence:
    """Evidence packs of the dossier checks of ``app``, with the files of ``blobs``."""

    def __init__(self, app: DossierChecks, blobs: Blobs) -> None:
        self.app = app
        self.blobs = blobs

    def pack(
        self, tenant: str, dossier_id: str, at: datetime | None, now: datetime, by: str
    ) -> Pack:
        """The pack of the office's dossier as it stood at ``at`` (None: now). 404 for a
        dossier the office does not have; 422 for a moment before it began or after now."""
        check = self.app.existing_check(tenant, dossier_id)
        moment = now if at is None else at
        if moment > now:
            raise MomentInFuture(f"at {moment.isoformat()} is in the future")
        stored = list(self.app.recorder.select_events(check.id))
        events: list[Any] = [self.app.mapper.to_domain_event(record) for record in stored]
        covered = 0
        for event in events:
            if event.timestamp > moment:
                break
            covered += 1
        if covered == 0:
            began = events[0].timestamp.isoformat() if events else "later"
            raise MomentBeforeDossier(
                f"dossier {dossier_id} began at {began}: at {moment.isoformat()} is before it"
            )
        state: DossierCheck = self.app.repository.get(check.id, version=covered)
        # Erased as the events read now (not as ``check`` was loaded a moment before them).
        erasure = next((e for e in reversed(events) if _name(e) == "DossierErased"), None)
        chain = _chain(check.id, stored[:covered])
        documents = _Documents(events[:covered], erased=erasure is not None)
        manifest = {
            "format": FORMAT,
            "dossier_id": dossier_id,
            "office": tenant,
            "dossier_check_id": check.id,
            "at": moment,
            "made_at": now,
            "made_by": by,
            "closed_at": state.closed_at,
            "outcome": state.outcome,
            "erased_at": erasure.at if erasure else None,
            "erased_by": erasure.by if erasure else None,
            "chain": {
                "path": CHAIN,
                "events": covered,
                "last_link": chain["events"][-1]["link"],
            },
            "documents": [documents.of(document) for document in state.documents.values()],
        }
        return Pack(json.loads(_json(manifest)), chain, documents.files)

    def chain(self, tenant: str, dossier_id: str, version: int) -> ChainState:
        """The chain's link at ``version`` of the office's dossier, recomputed from the store,
        and whether and when it was erased. 404 when the store holds fewer events."""
        check = self.app.existing_check(tenant, dossier_id)
        stored = self.app.recorder.select_events(check.id, lte=version)
        if len(stored) < version:
            raise ChainNotStored(
                f"dossier {dossier_id} has {len(stored)} stored events, not {version}"
            )
        last = last_link(Record.of(record) for record in stored)
        return ChainState(dossier_id, version, last.hex(), check.erased_at, self._erased_by(check))

    def _erased_by(self, check: DossierCheck) -> str | None:
        if check.erased_at is None:
            return None
        for record in self.app.recorder.select_events(check.id, desc=True):
            if record.topic.endswith(_ERASED_TOPIC):
                erasure: Any = self.app.mapper.to_domain_event(record)
                return str(erasure.by)
        return None


def _chain(check_id: UUID, stored: list[Any]) -> dict[str, Any]:
    records = [Record.of(record) for record in stored]
    return {
        "algorithm": "sha256(previous link, framed originator id, version, topic, state)",
        "genesis": GENESIS.hex(),
        "dossier_check_id": str(check_id),
        "events": [
            {
                "originator_id": record.originator_id,
                "version": record.version,
                "topic": record.topic,
                "state": base64.b64encode(record.state).decode(),
                "link": chained.hex(),
            }
            for record, chained in zip(records, links(records), strict=True)
        ],
    }


class _Documents:
    """What the manifest says of each document: its state, and from the events its reviews
    and requests. Personal fields read ``[gewist]`` once the dossier was erased."""

    def __init__(self, events: Iterable[Any], *, erased: bool) -> None:
        self.erased = erased
        self.files: dict[str, str] = {}
        self.reviews: dict[str, list[dict[str, Any]]] = {}
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.claims: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            self._read(event)

    def _personal(self, value: str | None) -> str | None:
        return ERASED if self.erased and value is not None else value

    def _read(self, event: Any) -> None:
        name = _name(event)
        document_id = str(getattr(event, "document_id", ""))
        if name in _REVIEWS:
            self.reviews.setdefault(document_id, []).append(
                {
                    "decision": _REVIEWS[name],
                    "version": getattr(event, "version", None),
                    "by": event.by,
                    "at": event.at,
                    "reason": self._personal(getattr(event, "reason", None)),
                }
            )
        elif name == "NotApplicableClaimed":
            self.claims.setdefault(document_id, []).append(
                {"by": event.by, "at": event.at, "note": self._personal(event.note)}
            )
        elif name in ("DocumentAdded", "RequestMerged", "ActionPointOpened"):
            how = {"DocumentAdded": "added", "RequestMerged": "merged"}.get(name, "action_point")
            self.requests.setdefault(document_id, []).append(
                {
                    "request_id": event.request_id,
                    "how": how,
                    "source": getattr(event, "source", None),
                    "at": getattr(event, "at", None) or event.timestamp,
                }
            )

    def of(self, document: Document) -> dict[str, Any]:
        key = str(document.document_id)
        point = document.action_point
        return {
            "document_id": document.document_id,
            "document_type": document.document_type,
            "title": self._personal(document.title),
            "subject": document.subject.as_dict(),
            "period": document.period,
            "status": document.status.value,
            "removed": document.removed,
            "created_at": document.created_at,
            "source": document.source,
            "request_id": document.request_id,
            "replaces_document_id": document.replaces_document_id,
            "due_at": document.due_at,
            "valid_until": document.valid_until,
            "instructions": self._personal(document.instructions),
            "rejection_reason": self._personal(document.rejection_reason),
            "note": self._personal(document.note),
            "action_point": None
            if point is None
            else {
                "action_point_id": point.action_point_id,
                "status": point.status.value,
                "created_at": point.created_at,
                "due_at": point.due_at,
                "completed_at": point.completed_at,
                "overdue": point.overdue,
                "reminders": point.reminders,
            },
            "versions": [self._version(stored) for stored in document.files],
            "reviews": self.reviews.get(key, []),
            "claims": self.claims.get(key, []),
            "requests": self.requests.get(key, []),
        }

    def _version(self, stored: StoredFile) -> dict[str, Any]:
        files = []
        for number, part in enumerate(stored.parts, start=1):
            path = None if self.erased else file_path(part.sha256, part.content_type)
            if path is not None:
                self.files[path] = part.sha256
            files.append(
                {
                    "part": number,
                    "sha256": part.sha256,
                    "size": part.size,
                    "content_type": part.content_type,
                    "filename": self._personal(part.filename),
                    "path": path,
                    "absent": "erased" if self.erased else None,
                }
            )
        return {
            "version": stored.version,
            "uploaded_at": stored.uploaded_at,
            "uploaded_by": stored.uploaded_by,
            "copied_from": stored.copied_from,
            "files": files,
        }
