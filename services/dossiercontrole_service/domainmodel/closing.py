"""A dossier's lifetime (SPEC section 11): closing it with an outcome, reopening it, erasing it.

``Closing`` is a part of the ``DossierCheck`` aggregate (a mixin whose events the aggregate
class redefines as its own, ``DossierCheck.DossierClosed`` and ``DossierCheck.DossierReopened``):
a closed dossier refuses the commands that would change it (``ensure_open``), so the rule is
atomic with the dossier's documents. Closing removes the open action points (the client has
nothing left to do: the portal drops them with ``reason: "dossier_closed"``, reminders stop);
reopening, while nothing was erased, opens exactly those again. Erasing a closed dossier drops
its documents from the dossier check and names the files to delete.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from servicekit.domain import Conflict
from services.dossiercontrole_service.domainmodel.errors import DossierCheckError
from services.dossiercontrole_service.domainmodel.statuses import ActionPointCommand

if TYPE_CHECKING:
    from collections.abc import Sequence

    from services.dossiercontrole_service.domainmodel.values import Document


class Outcome(StrEnum):
    """How the relationship ended; the office's retention period depends on it."""

    COMPLETED = "completed"  # the advice was carried out (the Wwft's five years)
    WITHDRAWN = "withdrawn"  # the client stopped
    DECLINED = "declined"  # the application was declined: little ground to keep it


class DossierIsClosed(DossierCheckError, Conflict):
    """A command that would change a closed dossier (or closing it again)."""


class DossierIsOpen(DossierCheckError, Conflict):
    """Reopening (or erasing) a dossier that is not closed."""


class DossierWasErased(DossierIsClosed):
    """Reopening or erasing a dossier that was erased: nothing of it is left to work on."""


class Closing:
    """The closing and reopening of a dossier check (mixed into ``DossierCheck``)."""

    # Defaults for dossier checks (and snapshots) from before closing existed: open.
    outcome: str | None = None  # an ``Outcome``'s value
    closed_at: datetime | None = None
    closed_points: Sequence[str] = ()  # the action points its closing removed
    erased_at: datetime | None = None
    files_to_delete: Sequence[str] = ()  # its files' SHA-256, until they are deleted
    erasure_carried_out = False  # its key destroyed and its unused files deleted

    documents: dict[str, Document]
    dossier_id: str

    if TYPE_CHECKING:

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

        def open_points(self) -> list[Any]: ...

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def ensure_open(self) -> None:
        """Refuses a change to a closed dossier (409 on HTTP, a dead letter on Kafka)."""
        if self.erased_at is not None:
            raise DossierWasErased(
                f"dossier {self.dossier_id} was erased at {self.erased_at.isoformat()}"
            )
        if self.closed_at is not None:
            raise DossierIsClosed(f"dossier {self.dossier_id} is closed ({self.outcome})")

    def close(self, outcome: Outcome, by: str, at: datetime) -> None:
        """Close the dossier: its open action points are removed, the client is done."""
        self.ensure_open()
        removes = [str(point.action_point_id) for _, point in self.open_points()]
        self.trigger_event(
            self.DossierClosed, outcome=outcome.value, by=by, at=at, removes_action_points=removes
        )

    def reopen(self, by: str, at: datetime) -> None:
        """Reopen a closed dossier: the action points its closing removed are open again."""
        self._ensure_closed_and_kept()
        self.trigger_event(
            self.DossierReopened, by=by, at=at, restores_action_points=list(self.closed_points)
        )

    def _ensure_closed_and_kept(self) -> None:
        if self.erased_at is not None:
            self.ensure_open()  # says when it was erased
        if self.closed_at is None:
            raise DossierIsOpen(f"dossier {self.dossier_id} is not closed")

    def erase(self, by: str, at: datetime) -> None:
        """Erase the closed dossier: its documents are gone from the dossier check, and its
        files are to be deleted (``files_to_delete``, until ``record_files_deleted``). The
        stored events stay (the log is append-only)."""
        self._ensure_closed_and_kept()
        files = sorted(
            {
                sha256
                for document in self.documents.values()
                for version in document.files
                for sha256 in (version.sha256, *(part.sha256 for part in version.more))
            }
        )
        self.trigger_event(self.DossierErased, by=by, at=at, files=files)

    def record_files_deleted(self, at: datetime) -> None:
        """The erased dossier's key was destroyed and its files deleted (those no other dossier
        uses): what the erasure does outside the event store is done."""
        if self.erased_at is not None and not self.erasure_carried_out:
            self.trigger_event(self.ErasedFilesDeleted, at=at)

    def _move_points(self, ids: list[str], command: ActionPointCommand, at: datetime) -> None:
        wanted = set(ids)
        for key, document in list(self.documents.items()):
            point = document.action_point
            if point is not None and str(point.action_point_id) in wanted:
                self.documents[key] = replace(document, action_point=point.moved(command, at))

    class DossierClosed(Aggregate.Event):
        outcome: str
        by: str
        at: datetime
        removes_action_points: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate._move_points(self.removes_action_points, ActionPointCommand.REMOVE, self.at)
            aggregate.outcome = self.outcome
            aggregate.closed_at = self.at
            aggregate.closed_points = list(self.removes_action_points)

    class DossierReopened(Aggregate.Event):
        by: str
        at: datetime
        restores_action_points: list[str]

        def apply(self, aggregate: Any) -> None:
            ids = self.restores_action_points
            aggregate._move_points(ids, ActionPointCommand.RESTORE, self.at)
            aggregate.outcome = None
            aggregate.closed_at = None
            aggregate.closed_points = ()

    class DossierErased(Aggregate.Event):
        by: str  # the admin's actor, or ``retention-policy`` for the scheduler
        at: datetime
        files: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.documents = {}
            aggregate.erased_at = self.at
            aggregate.files_to_delete = list(self.files)

    class ErasedFilesDeleted(Aggregate.Event):
        at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.files_to_delete = []
            aggregate.erasure_carried_out = True
