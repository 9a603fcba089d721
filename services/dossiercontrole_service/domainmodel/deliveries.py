"""Several files in one version (SPEC section 9): adding files to the latest version.

An upload may carry several files (both sides of an ID card): they are one version
(``DossierCheck.upload`` with ``more_files``). ``?append=true`` adds the files of a later upload
to the latest version instead, while the adviser has not reviewed it: once it is approved,
rejected or expired the client delivers a new version. A document with nothing delivered yet
takes an append as its first version (``DossierCheck.upload``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.dossiercontrole_service.domainmodel.contents import DossierContents
from services.dossiercontrole_service.domainmodel.errors import AlreadyReviewed, VersionFull
from services.dossiercontrole_service.domainmodel.statuses import DocumentStatus
from services.dossiercontrole_service.domainmodel.values import FilePart

MAX_PARTS = 20
"""The most files one version holds (an upload of more is refused, as an append past it)."""

OPEN_FOR_MORE = frozenset({DocumentStatus.UPLOADED})
"""The statuses whose latest version still takes more files: delivered, not yet reviewed."""


class Deliveries(DossierContents, Aggregate):
    """The part of the ``DossierCheck`` that adds files to a delivered version."""

    def appends_to(self, document_id: UUID, *, by_client: bool) -> int | None:
        """The version an append adds to; None when nothing was delivered yet (the append is
        the first version, an upload); ``AlreadyReviewed`` (409) once the latest version was
        reviewed (approved, rejected, expired) or answered otherwise."""
        document = self.deliverable(document_id, by_client=by_client)
        if document.status in OPEN_FOR_MORE:
            return len(document.files)
        if not document.files:
            return None
        raise AlreadyReviewed(
            f"document {document.document_id} is {document.status.value}: its latest version "
            "takes no more files; upload a new version instead"
        )

    def ensure_version_room(
        self, document_id: UUID, version: int | None, sizes: Sequence[int], most: int | None
    ) -> None:
        """Refuses files that would make ``version`` (None: a new one) hold more than
        ``MAX_PARTS`` files or ``most`` bytes (the upload limit: a version merges in memory)."""
        stored = self.document(document_id).files[version - 1] if version else None
        count = len(sizes) + (len(stored.parts) if stored else 0)
        size = sum(sizes) + (stored.size_of_parts if stored else 0)
        if count > MAX_PARTS:
            raise VersionFull(f"a version holds at most {MAX_PARTS} files")
        if most is not None and size > most:
            raise VersionFull(f"a version holds at most {most} bytes in all its files")

    def append_files(
        self,
        document_id: UUID,
        files: Sequence[dict[str, Any]],
        by: str,
        at: datetime,
        *,
        quota: int | None = None,
        most: int | None = None,
        by_client: bool = False,
    ) -> int:
        """Add ``files`` to the latest version, which must not have been reviewed; answers
        its number. ``most``: the bytes a version may hold in all its files."""
        version = self.appends_to(document_id, by_client=by_client)
        assert version is not None, "a first version is an upload"
        self.ensure_version_room(document_id, version, [int(f["size"]) for f in files], most)
        self.ensure_room_for(sum(int(f["size"]) for f in files), quota)
        self._append_files(document_id, version, [dict(f) for f in files], by, at)
        return version

    @event("FilesAppended")
    def _append_files(
        self, document_id: UUID, version: int, files: list[dict[str, Any]], by: str, at: datetime
    ) -> None:
        document = self.documents[str(document_id)]
        stored = document.files[version - 1]
        grown = replace(stored, more=(*stored.more, *(FilePart.of(f) for f in files)))
        files_after = (*document.files[: version - 1], grown, *document.files[version:])
        self.documents[str(document_id)] = replace(document, files=files_after)
