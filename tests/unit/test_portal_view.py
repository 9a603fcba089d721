"""The client portal (klantportaal) as the client sees it, built from the dossier-check topic.

The view is fed the way the tracking consumer feeds it: one event with its topic position at a
time. Redelivered and republished events must leave what the client sees unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events.codec import new_event

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
OTHER_OFFICE = "kantoor-amsterdam"
DOSSIER = "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
PARTITION = "actiepunten.dossiercontrole.v1:0"


class Feed:
    """The dossier-check topic's partition 0 as the consumer hands it to the view."""

    def __init__(self, view: PortalView, tenant: str = OFFICE) -> None:
        self.view = view
        self.tenant = tenant
        self.position = 0

    def _event(self, kind: type[c.CloudEvent], data: dict[str, Any]) -> c.CloudEvent:
        return new_event(
            kind,
            data,
            source="actiepunten/dossiercontrole_service",
            tenant=self.tenant,
            dossier=DOSSIER,
        )

    def deliver(self, event: c.CloudEvent, position: int | None = None) -> bool:
        """Deliver at the next position, or at ``position`` (a redelivery)."""
        if position is None:
            self.position += 1
            position = self.position
        return self.view.process(event, Tracking(PARTITION, position))

    def opened(
        self,
        action_point_id: UUID,
        title: str = "Identiteitsbewijs",
        at: datetime = NOW,
        document_type: str = "identiteitsbewijs",
    ) -> c.CloudEvent:
        return self._event(
            c.ActionPointOpened,
            {
                "action_point_id": action_point_id,
                "document_id": uuid4(),
                "dossier_id": DOSSIER,
                "subject": MORTGAGE,
                "document_type": document_type,
                "title": title,
                "opened_at": at,
            },
        )

    def completed(self, action_point_id: UUID, at: datetime) -> c.CloudEvent:
        return self._event(
            c.ActionPointCompleted,
            {
                "action_point_id": action_point_id,
                "document_id": uuid4(),
                "dossier_id": DOSSIER,
                "completed_at": at,
            },
        )

    def removed(self, action_point_id: UUID, reason: str = "removed_by_adviser") -> c.CloudEvent:
        return self._event(
            c.ActionPointRemoved,
            {
                "action_point_id": action_point_id,
                "document_id": uuid4(),
                "dossier_id": DOSSIER,
                "reason": reason,
                "removed_at": NOW + timedelta(hours=1),
            },
        )


def portal(view: PortalView, tenant: str = OFFICE) -> dict[str, str]:
    """What the client sees: title -> status."""
    return {p["title"]: p["status"] for p in view.action_points(tenant, DOSSIER)}


def test_an_opened_action_point_shows_as_open(view: PortalView) -> None:
    feed = Feed(view)
    action_point_id = uuid4()

    assert feed.deliver(feed.opened(action_point_id)) is True

    (point,) = view.action_points(OFFICE, DOSSIER)
    assert point["action_point_id"] == str(action_point_id)
    assert point["document_type"] == "identiteitsbewijs"
    assert point["title"] == "Identiteitsbewijs"
    assert point["subject"] == MORTGAGE
    assert point["status"] == "open"
    assert datetime.fromisoformat(point["created_at"]) == NOW
    assert point["completed_at"] is None


def test_an_upload_completes_the_action_point_and_it_stays_listed(view: PortalView) -> None:
    feed = Feed(view)
    id_card, payslip = uuid4(), uuid4()
    feed.deliver(feed.opened(id_card, "Identiteitsbewijs"))
    feed.deliver(feed.opened(payslip, "Loonstrook", at=NOW + timedelta(minutes=1)))

    # The client uploads the identity document.
    uploaded_at = NOW + timedelta(hours=2)
    feed.deliver(feed.completed(id_card, uploaded_at))

    assert portal(view) == {"Identiteitsbewijs": "completed", "Loonstrook": "open"}
    completed = view.action_points(OFFICE, DOSSIER)[0]
    assert datetime.fromisoformat(completed["completed_at"]) == uploaded_at


@pytest.mark.parametrize("reason", ["removed_by_adviser", "document_removed"])
def test_a_removed_action_point_is_absent(view: PortalView, reason: str) -> None:
    feed = Feed(view)
    discharge, id_card = uuid4(), uuid4()
    feed.deliver(feed.opened(discharge, "Finale kwijting"))
    feed.deliver(feed.opened(id_card, "Identiteitsbewijs"))

    feed.deliver(feed.removed(discharge, reason))

    assert portal(view) == {"Identiteitsbewijs": "open"}


def test_a_completed_action_point_the_adviser_removes_is_absent(view: PortalView) -> None:
    feed = Feed(view)
    id_card = uuid4()
    feed.deliver(feed.opened(id_card))
    feed.deliver(feed.completed(id_card, NOW + timedelta(hours=1)))

    feed.deliver(feed.removed(id_card))

    assert portal(view) == {}


def test_a_redelivered_record_is_applied_once(view: PortalView) -> None:
    feed = Feed(view)
    id_card = uuid4()
    opened = feed.opened(id_card)
    assert feed.deliver(opened, position=1) is True

    # Kafka delivers the same record again after a rebalance.
    assert feed.deliver(opened, position=1) is False

    assert portal(view) == {"Identiteitsbewijs": "open"}
    assert view.max_tracking_id(PARTITION) == 1


def test_records_at_or_below_the_recorded_position_are_ignored(view: PortalView) -> None:
    feed = Feed(view)
    id_card = uuid4()
    feed.deliver(feed.opened(id_card), position=1)
    feed.deliver(feed.completed(id_card, NOW + timedelta(hours=1)), position=3)

    # Older records (whatever they say) arrive late: they change nothing.
    assert feed.deliver(feed.removed(id_card), position=2) is False
    assert feed.deliver(feed.removed(id_card), position=3) is False

    assert portal(view) == {"Identiteitsbewijs": "completed"}
    assert view.max_tracking_id(PARTITION) == 3
    assert view.has_tracked(Tracking(PARTITION, 3))
    assert not view.has_tracked(Tracking(PARTITION, 4))


def test_a_republished_event_at_a_new_position_does_not_turn_the_clock_back(
    view: PortalView,
) -> None:
    feed = Feed(view)
    id_card, discharge = uuid4(), uuid4()
    opened = feed.opened(id_card)
    feed.deliver(opened)
    feed.deliver(feed.completed(id_card, NOW + timedelta(hours=1)))
    feed.deliver(feed.opened(discharge, "Finale kwijting"))
    removed = feed.removed(discharge)
    feed.deliver(removed)

    # The outbox relay crashed and republishes the batch: same events, later offsets.
    assert feed.deliver(opened) is True
    assert feed.deliver(feed.opened(discharge, "Finale kwijting")) is True
    assert feed.deliver(feed.completed(discharge, NOW + timedelta(hours=2))) is True

    assert portal(view) == {"Identiteitsbewijs": "completed"}


def test_each_partition_keeps_its_own_position(view: PortalView) -> None:
    feed = Feed(view)
    feed.deliver(feed.opened(uuid4(), "Identiteitsbewijs"), position=10)

    # Partition 1 is at its own, lower offsets.
    other = Tracking("actiepunten.dossiercontrole.v1:1", 2)
    assert view.process(feed.opened(uuid4(), "Loonstrook"), other) is True

    assert portal(view) == {"Identiteitsbewijs": "open", "Loonstrook": "open"}


def test_a_skipped_record_still_moves_the_position(view: PortalView) -> None:
    # The consumer records the position of an event the portal does not need.
    view.record_tracking(Tracking(PARTITION, 4))

    assert view.max_tracking_id(PARTITION) == 4
    feed = Feed(view)
    assert feed.deliver(feed.opened(uuid4()), position=4) is False
    assert portal(view) == {}


def test_another_office_sees_nothing_of_this_offices_portal(view: PortalView) -> None:
    ours, theirs = Feed(view), Feed(view, tenant=OTHER_OFFICE)
    id_card = uuid4()
    ours.deliver(ours.opened(id_card))

    # Nothing shows for another office's dossier with the same id ...
    assert portal(view, tenant=OTHER_OFFICE) == {}
    # ... and their events cannot touch our action point, even with its id.
    theirs.position = ours.position
    theirs.deliver(theirs.completed(id_card, NOW + timedelta(hours=1)))
    theirs.deliver(theirs.removed(id_card))
    assert portal(view) == {"Identiteitsbewijs": "open"}


def test_the_portal_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "portal.sqlite"
    first = PortalView(path)
    feed = Feed(first)
    feed.deliver(feed.opened(uuid4()))
    first.close()

    # The projection restarts on the same file: rows and position are there.
    again = PortalView(path)
    try:
        assert portal(again) == {"Identiteitsbewijs": "open"}
        assert again.max_tracking_id(PARTITION) == 1
    finally:
        again.close()
