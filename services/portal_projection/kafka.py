"""What the portal projection consumes: the action-point and document facts of the dossier-check
topic, and the dossiers' contacts of the platform's clients topic (for signing in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.portal_projection.views import PROJECTED, PortalView
from shared.events import topics

if TYPE_CHECKING:  # a replay reads CONSUMES without FastStream or the consumer's imports
    from eventsourcing.persistence import Tracking
    from faststream.kafka import KafkaBroker

    from servicekit.consumer import BatchHandler, Handler
    from shared.events import contracts as c

CONSUMES = (topics.DOSSIERCONTROLE, topics.CLIENTS)
DLQ = topics.PORTAL_DLQ


def declare(broker: KafkaBroker) -> None:
    broker.publisher(DLQ, title=DLQ, description="Records the portal projection could not accept")


def handlers(view: PortalView) -> dict[str, Handler]:
    def project(event: c.CloudEvent, tracking: Tracking) -> None:
        view.process(event, tracking)

    return dict.fromkeys(PROJECTED, project)


class PositionTaken(Exception):
    """The batch's position was stored before (by another replica): nothing was applied."""


def batch_handler(view: PortalView) -> BatchHandler:
    """A consumed batch's facts in one store transaction. A batch whose position was stored
    before fails (as an event store's tracking does): the consumer then takes its records one
    at a time, finds each done, and reads its position from the store again."""

    def project(events: Sequence[c.CloudEvent], tracking: Tracking) -> None:
        if not view.process_many(events, tracking):
            raise PositionTaken(
                f"{tracking.application_name} is at or past {tracking.notification_id}"
            )

    return project
