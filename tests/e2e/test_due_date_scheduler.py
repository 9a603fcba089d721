"""Stories of the dossier check's due-date scheduler: an action point becomes overdue and is
reminded once, with two replicas of the dossier check racing for it, and when its moment passed
while no replica ran (the scheduler is rebuilt from the store's log)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools import Broker
from tests.e2e.test_document_cycle import of_point
from tests.e2e.test_dossier_check import dossier_check_when, published, request_document
from tests.support import Office, System, start_replica, wait_until_caught_up

pytestmark = pytest.mark.e2e

# One reminder, on the due date: each point has exactly two steps, overdue and that reminder.
ON_THE_DAY = {"before_due": [], "on_due": True, "every_after_due": None, "max_reminders": 1}


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def _request_due(system: System, office: Office, dossier: str, code: str, seconds: float) -> str:
    """A request due in ``seconds``, once the dossier check holds it; its action point id."""
    due = datetime.now(UTC) + timedelta(seconds=seconds)
    request_document(system, office, dossier, code, due_at=due.isoformat())
    return str(
        dossier_check_when(system, office, dossier, 1)[code]["action_point"]["action_point_id"]
    )


def _steps(events: list[dict[str, Any]], point: str) -> tuple[int, int]:
    return (
        len(of_point(events, "ActionPointOverdue", point)),
        len(of_point(events, "ActionPointReminderDue", point)),
    )


def test_overdue_and_reminders_happen_once_with_two_replicas_and_across_a_restart(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    response = system.put("dossiercontrole", "/reminder-schedule", office.admin, json=ON_THE_DAY)
    assert response.status_code == 200, response.text

    # Two replicas of the dossier check share its store; a point falls due while both run.
    replica = start_replica(system, "dossiercontrole")
    try:
        raced = _request_due(system, office, "dossier-1", "loonstrook", 3)
        published(kafka, office, lambda es: min(_steps(es, raced)) >= 1)

        # A second point falls due while no replica runs.
        missed = _request_due(system, office, "dossier-2", "jaaropgave", 3)
        system.stop("dossiercontrole", replica)
        stopped = datetime.now(UTC)
        time.sleep(4)
        system.start("dossiercontrole")
    finally:
        system.stop(replica)

    # Back up, the rebuilt scheduler does what fell due once, and nothing of the raced point
    # again; a later point shows that the scheduler has moved past both.
    later = _request_due(system, office, "dossier-3", "bankafschrift", 2)
    events = published(kafka, office, lambda es: min(_steps(es, later)) >= 1)
    assert _steps(events, raced) == (1, 1)
    assert _steps(events, missed) == (1, 1)
    [overdue] = of_point(events, "ActionPointOverdue", missed)
    if stopped < datetime.fromisoformat(overdue["data"]["due_at"]):
        assert datetime.fromisoformat(overdue["time"]) > stopped
    else:
        print("stopping took so long that the point fell due before the stop")
