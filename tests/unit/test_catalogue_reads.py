"""Starts read the office's catalogue from a copy shared per version: a change an admin makes,
here or in another replica's process, is what the next start uses."""

from __future__ import annotations

from pathlib import Path

from services.scenario_service.application import (
    ChangeScenario,
    DefineScenario,
    Scenarios,
    StartScenarios,
)
from services.scenario_service.domainmodel import Subject
from tests.unit.kafka_edge import DISCHARGE, DOSSIER, ID_CARD, MORTGAGE, NOW, OFFICE


def open_store(path: Path) -> Scenarios:
    return Scenarios(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def started_items(scenarios: Scenarios, scenario_id: object) -> list[str]:
    (run,) = scenarios.start_scenarios(
        StartScenarios(
            OFFICE, DOSSIER, Subject.of(MORTGAGE), [scenario_id], "adviseur-1", execute_at=NOW
        ),
        now=NOW,
    )
    return [item["document_type"] for item in run.items]


def test_a_start_uses_the_catalogue_as_the_admin_last_changed_it(tmp_path: Path) -> None:
    path = tmp_path / "scenario.sqlite"
    here, other_replica = open_store(path), open_store(path)
    try:
        scenario_id = here.define_scenario(
            DefineScenario(OFFICE, "Hyp", "hypotheek", [ID_CARD], None, "admin-1")
        )
        assert started_items(here, scenario_id) == ["identiteitsbewijs"]

        # Changed in this process, then in another replica's.
        here.change_scenario(
            ChangeScenario(OFFICE, "Hyp", "hypotheek", [DISCHARGE], None, "a", scenario_id)
        )
        assert started_items(here, scenario_id) == ["finale_kwijting"]
        other_replica.change_scenario(
            ChangeScenario(
                OFFICE, "Hyp", "hypotheek", [ID_CARD, DISCHARGE], None, "admin-2", scenario_id
            )
        )
        assert started_items(here, scenario_id) == ["identiteitsbewijs", "finale_kwijting"]

        # What a start was given is its own: changing it changes nothing in the catalogue.
        (listed,) = here.get_scenarios(OFFICE)
        listed["items"].clear()
        assert started_items(here, scenario_id) == ["identiteitsbewijs", "finale_kwijting"]
    finally:
        here.close()
        other_replica.close()
