"""Story: an adviser starts a mortgage scenario now and the client sees its tasks on the portal."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from devtools import Broker
from shared.events import topics
from shared.events.codec import CURRENT_DATAVERSION
from tests.support import System, eventually, product, read_events, types_of, unique_events

pytestmark = pytest.mark.e2e


def _start_mortgage_scenario(system: System) -> tuple[object, float]:
    office = system.office()
    # The admin defines a mortgage scenario asking for three documents.
    scenario_id = system.define_scenario(
        office,
        "hypotheek",
        "identiteitsbewijs",
        "werkgeversverklaring",
        "finale_kwijting",
        name="Hypotheek zelfstandige",
    )
    # The adviser starts it on the client's mortgage, today, without a time: it runs now.
    started = time.monotonic()
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "scenario_ids": [scenario_id],
        },
    )
    assert response.status_code == 201, response.text
    [run] = response.json()["runs"]
    assert run["status"] == "executed"
    return office, started


def _client_sees_three_open_action_points(system: System, office: object) -> dict:
    def three_open() -> dict:
        portal = system.portal(office, "dossier-1")  # type: ignore[arg-type]
        assert [p["status"] for p in portal["action_points"]] == ["open"] * 3, portal
        return portal

    # The module's first story: the portal's fresh consumer group first reads the broker's
    # history of the modules before it (each xdist worker's broker keeps its own).
    return eventually(three_open, timeout=60)


def test_scenario_started_now_reaches_the_client_portal(system: System, kafka: Broker) -> None:
    office, started = _start_mortgage_scenario(system)

    # The client sees three open action points on the portal.
    portal = _client_sees_three_open_action_points(system, office)
    print(f"portal showed the action points {time.monotonic() - started:.3f}s after the start")
    assert {p["document_type"] for p in portal["action_points"]} == {
        "identiteitsbewijs",
        "werkgeversverklaring",
        "finale_kwijting",
    }
    assert portal["progress"] == {"open": 3, "completed": 0, "percent": 0}

    # The adviser's dossier check holds the three requested documents with their action points.
    documents = system.documents(office, "dossier-1")  # type: ignore[arg-type]
    assert len(documents) == 3
    assert all(
        d["status"] == "requested" and d["action_point"]["status"] == "open" for d in documents
    )

    # Other platform services see the facts on the topics, keyed by office and dossier.
    tenant = office.tenant  # type: ignore[attr-defined]
    scenario_events = read_events(
        kafka.bootstrap_servers,
        topics.SCENARIO,
        tenant,
        until=lambda found: types_of(found).count("DocumentRequested") >= 3,
    )
    scenario_events = unique_events(scenario_events)  # other systems may republish the same
    assert Counter(types_of(scenario_events)) == Counter(
        {
            "ScenarioDefined": 1,
            "ScenarioScheduled": 1,
            "ScenarioExecuted": 1,
            "DocumentRequested": 3,
        }
    )
    run_events = [e for e in scenario_events if e["type"] != "ScenarioDefined"]
    assert {e["_key"] for e in run_events} == {f"{tenant}:dossier-1".encode()}
    assert all(
        e["specversion"] == "1.0" and e["dataversion"] == CURRENT_DATAVERSION.get(e["type"], 1)
        for e in scenario_events
    )

    check_events = read_events(
        kafka.bootstrap_servers,
        topics.DOSSIERCONTROLE,
        tenant,
        until=lambda found: types_of(found).count("ActionPointOpened") >= 3,
    )
    check_events = unique_events(check_events)
    assert Counter(types_of(check_events)) == Counter({"DocumentAdded": 3, "ActionPointOpened": 3})


def test_portal_requires_a_token_of_the_dossier(system: System) -> None:
    office, _ = _start_mortgage_scenario(system)
    _client_sees_three_open_action_points(system, office)
    url = "/portal/dossiers/dossier-1/action-points"
    assert system.get("portal", url, {}).status_code == 401
    other_client = office.client("dossier-2")  # type: ignore[attr-defined]
    assert system.get("portal", url, other_client).status_code == 404
    other_office = system.office()
    assert system.get("portal", url, other_office.client("dossier-1")).json()["action_points"] == []


def test_the_same_path_on_the_embedded_tansu_broker(
    tansu: Broker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`make run` falls back to Tansu when Java is absent: keep that path working."""
    system = System(
        tansu.bootstrap_servers,
        tmp_path_factory.mktemp("tansu-system"),
        idempotence=tansu.supports_idempotence,
    )
    system.start()
    try:
        office, _ = _start_mortgage_scenario(system)
        _client_sees_three_open_action_points(system, office)
        print(f"tansu smoke ran on broker '{tansu.kind}'")
    finally:
        system.stop()
