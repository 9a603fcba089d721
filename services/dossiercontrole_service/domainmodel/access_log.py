"""Who looked at a dossier's files (SPEC section 7): one ``AccessLog`` per dossier, and a
``DocumentViewed`` for each download of a version, with who (``<role>:<sub>``) and when.

Kept apart from the ``DossierCheck`` on purpose: a download changes nothing of the dossier
check, so it must not move its version (an upload at the same moment would conflict with it)
nor grow its snapshots. Stored for the dossier's history, never published (``kafka.OUTBOX``
keeps both events silent).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import office_name
from services.dossiercontrole_service.domainmodel.identity import NAMESPACE


class AccessLog(Aggregate):
    """The downloads of one dossier's files, in one office, in the order they happened."""

    class Opened(Aggregate.Created):
        tenant: str
        dossier_id: str

    @staticmethod
    def create_id(tenant: str, dossier_id: str) -> UUID:
        return uuid5(NAMESPACE, office_name("views", tenant, dossier_id))

    @event(Opened)
    def __init__(self, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.views = 0

    @event("DocumentViewed")
    def record_view(
        self,
        document_id: UUID,
        version: int,
        by: str,
        at: datetime,
        part: int | None = None,
        merged: bool = False,
    ) -> None:
        """``by`` (``<role>:<sub>``) downloaded ``version`` of the document at ``at``: one
        ``part`` of it, or it ``merged`` into one PDF (SPEC section 9; older views lack both)."""
        self.views += 1
