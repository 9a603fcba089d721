"""An office's retention policy (SPEC section 11): how long a closed dossier is kept, by how it
ended, counted from its closing. When that passes, the dossier is erased."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import office_name
from services.dossiercontrole_service.domainmodel.closing import Outcome
from services.dossiercontrole_service.domainmodel.identity import NAMESPACE
from shared.events.durations import Duration

DEFAULT_RETENTION: dict[str, str] = {
    Outcome.COMPLETED.value: "P5Y",  # the Wwft keeps client research five years after the end
    Outcome.WITHDRAWN.value: "P1Y",
    Outcome.DECLINED.value: "P30D",  # little ground to keep a declined application
}


class RetentionPolicy(Aggregate):
    """An office's retention periods per outcome (ISO 8601 durations), replaced whole by its
    admin; the defaults until it does."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NAMESPACE, office_name("retention-policy", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.periods: dict[str, str] = dict(DEFAULT_RETENTION)

    @event("Changed")
    def change(self, periods: dict[str, str], by: str) -> None:
        self.periods = {outcome.value: periods[outcome.value] for outcome in Outcome}

    def erase_at(self, outcome: str, closed_at: datetime) -> datetime:
        """When a dossier closed at ``closed_at`` with ``outcome`` is to be erased (past the
        calendar's end: never, rather than stopping the scheduler)."""
        try:
            return Duration.parse(self.periods[outcome]).after(closed_at)
        except (OverflowError, ValueError):
            return datetime.max.replace(tzinfo=UTC)
