"""The portal projection's handlers for the action-point events of the dossier-check topic."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import Tracking

from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.portal_projection import kafka as portal_kafka
from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events.codec import new_event
from tests.unit.kafka_edge import DOSSIER, MORTGAGE, NOW, OFFICE


def test_the_portal_handles_the_action_point_events(tmp_path: Path) -> None:
    view = PortalView(tmp_path / "portal.sqlite")
    try:
        handlers = portal_kafka.handlers(view)
        assert {"ActionPointOpened", "ActionPointCompleted", "ActionPointRemoved"} <= set(handlers)

        opened = new_event(
            c.ActionPointOpened,
            {
                "action_point_id": uuid4(),
                "document_id": uuid4(),
                "dossier_id": DOSSIER,
                "subject": MORTGAGE,
                "document_type": "identiteitsbewijs",
                "title": "Identiteitsbewijs",
                "opened_at": NOW,
            },
            source=dossiercontrole_kafka.SOURCE,
            tenant=OFFICE,
            dossier=DOSSIER,
        )
        handlers["ActionPointOpened"](opened, Tracking("actiepunten.dossiercontrole.v1:0", 1))

        assert [p["status"] for p in view.action_points(OFFICE, DOSSIER)] == ["open"]
    finally:
        view.close()
