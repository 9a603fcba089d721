"""A dossier's lifetime in the dossier-check application (SPEC section 11): closing and
reopening it. ``DossierLifecycle`` is a part of ``DossierChecks`` (its commands live here so that
``application.py`` stays one room); the rules are the aggregate's (``domainmodel/closing.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from servicekit.domain import NotFound
from servicekit.eventstore import TrackedApplication, retried_on_conflict
from services.dossiercontrole_service.domainmodel import DossierCheck, DossierCheckError, Outcome


@dataclass(frozen=True)
class CloseDossier:
    """The adviser closes the dossier with how it ended."""

    tenant: str
    dossier_id: str
    outcome: Outcome
    by: str
    at: datetime


@dataclass(frozen=True)
class ReopenDossier:
    """The adviser reopens a closed dossier (while nothing was erased)."""

    tenant: str
    dossier_id: str
    by: str
    at: datetime


class DossierNotFound(DossierCheckError, NotFound):
    """No dossier check of that id in the caller's office: nothing to close or reopen."""


class DossierLifecycle(TrackedApplication):
    """Closing and reopening, as commands of ``DossierChecks`` (its subclass)."""

    def _existing_check(self, tenant: str, dossier_id: str) -> DossierCheck:
        """The office's dossier check, which must exist (a dossier nothing was requested for
        has nothing to close: 404)."""
        try:
            check: DossierCheck = self.get_owned(
                DossierCheck.create_id(tenant, dossier_id), tenant=tenant, dossier_id=dossier_id
            )
        except AggregateNotFoundError:
            raise DossierNotFound(f"dossier {dossier_id} not found") from None
        return check

    @retried_on_conflict()
    def close_dossier(self, command: CloseDossier) -> DossierCheck:
        """Close the dossier (409 when it is closed already); its open action points go."""
        check = self._existing_check(command.tenant, command.dossier_id)
        check.close(command.outcome, command.by, command.at)
        self.save(check)
        return check

    @retried_on_conflict()
    def reopen_dossier(self, command: ReopenDossier) -> DossierCheck:
        """Reopen the dossier (409 when it is open); what its closing removed is open again."""
        check = self._existing_check(command.tenant, command.dossier_id)
        check.reopen(command.by, command.at)
        self.save(check)
        return check
