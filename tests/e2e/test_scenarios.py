"""Stories of the scenario catalogue (admin) and of starting scenarios (adviser).

Everything goes through the running services: HTTP for what admins and advisers do and see, the
`actiepunten.scenario.v1` topic for what other platform services see.
"""

from __future__ import annotations

import time as clock
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools import Broker
from shared.events import topics
from tests.support import (
    Office,
    System,
    eventually,
    product,
    read_events,
    run_reaches,
    scenario_items_of_size,
    start_runs,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

# How long another service may take to show an effect (a busy shared broker and CI machine).
SETTLE = 30.0


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _document_types(system: System, office: Office, dossier_id: str, product_id: str) -> set[str]:
    return {
        d["document_type"]
        for d in system.documents(office, dossier_id)
        if d["subject"]["id"] == product_id
    }


def _run_events(kafka: Broker, tenant: str, until: Any) -> list[dict[str, Any]]:
    return read_events(kafka.bootstrap_servers, topics.SCENARIO, tenant, until=until)


# --- the catalogue ---------------------------------------------------------------------------


def test_admin_defines_changes_and_deletes_scenarios(system: System, kafka: Broker) -> None:
    office = system.office()
    # The admin defines two mortgage scenarios and one life-insurance scenario.
    divorced = system.define_scenario(
        office, "hypotheek", "echtscheidingsconvenant", "finale_kwijting", name="Gescheiden"
    )
    self_employed = system.define_scenario(
        office, "hypotheek", "jaarcijfers", "ib_aangifte", name="Zelfstandige"
    )
    life = system.define_scenario(
        office, "levensverzekering", "gezondheidsverklaring", name="Overlijdensrisico"
    )

    # Under a mortgage the adviser is offered only the mortgage scenarios.
    listed = system.get("scenario", "/scenarios?scope=hypotheek", office.adviser)
    assert listed.status_code == 200, listed.text
    assert {s["scenario_id"] for s in listed.json()["scenarios"]} == {divorced, self_employed}
    assert {s["scope"] for s in listed.json()["scenarios"]} == {"hypotheek"}
    # Under a life insurance only the life-insurance one.
    listed = system.get("scenario", "/scenarios?scope=levensverzekering", office.adviser)
    assert [s["scenario_id"] for s in listed.json()["scenarios"]] == [life]

    # The adviser opens one scenario and sees its items.
    one = system.get("scenario", f"/scenarios/{divorced}", office.adviser)
    assert one.status_code == 200, one.text
    assert one.json()["name"] == "Gescheiden"
    assert [i["document_type"] for i in one.json()["items"]] == [
        "echtscheidingsconvenant",
        "finale_kwijting",
    ]

    # The admin changes the scenario: a new name and one more document, no action point for it.
    changed = system.put(
        "scenario",
        f"/scenarios/{divorced}",
        office.admin,
        json={
            "name": "Gescheiden, met kinderen",
            "scope": "hypotheek",
            "items": [
                {"document_type": "echtscheidingsconvenant"},
                {"document_type": "finale_kwijting"},
                {
                    "document_type": "ouderschapsplan",
                    "title": "Ouderschapsplan",
                    "action_point": False,
                },
            ],
        },
    )
    assert changed.status_code == 200, changed.text
    again = system.get("scenario", f"/scenarios/{divorced}", office.adviser).json()
    assert again["name"] == "Gescheiden, met kinderen"
    assert again["items"][2] == {
        "document_type": "ouderschapsplan",
        "title": "Ouderschapsplan",
        "action_point": False,
    }

    # The admin deletes the life-insurance scenario: it is gone from the catalogue.
    assert system.delete("scenario", f"/scenarios/{life}", office.admin).status_code == 204
    assert system.get("scenario", f"/scenarios/{life}", office.adviser).status_code == 404
    listed = system.get("scenario", "/scenarios?scope=levensverzekering", office.adviser)
    assert listed.json()["scenarios"] == []

    # Unknown scenarios are 404 for reading, changing and deleting.
    unknown = "/scenarios/00000000-0000-4000-8000-000000000000"
    assert system.get("scenario", unknown, office.adviser).status_code == 404
    body = {"name": "x", "scope": "hypotheek", "items": [{"document_type": "x"}]}
    assert system.put("scenario", unknown, office.admin, json=body).status_code == 404
    assert system.delete("scenario", unknown, office.admin).status_code == 404
    assert system.delete("scenario", f"/scenarios/{life}", office.admin).status_code == 404

    # Only an admin manages the catalogue; another office does not see this one at all.
    assert system.post("scenario", "/scenarios", office.adviser, json=body).status_code == 403
    assert system.delete("scenario", f"/scenarios/{divorced}", office.adviser).status_code == 403
    other = system.office()
    assert system.get("scenario", f"/scenarios/{divorced}", other.adviser).status_code == 404
    assert system.get("scenario", "/scenarios", other.adviser).json()["scenarios"] == []

    # Other platform services saw the catalogue change on the scenario topic.
    events = _run_events(kafka, office.tenant, lambda found: len(found) >= 5)
    assert [(e["type"], e["data"]["scenario_id"]) for e in events] == [
        ("ScenarioDefined", divorced),
        ("ScenarioDefined", self_employed),
        ("ScenarioDefined", life),
        ("ScenarioChanged", divorced),
        ("ScenarioDeleted", life),
    ]


def test_admins_define_scenarios_at_the_same_moment(system: System) -> None:
    """An office's catalogue is one aggregate: simultaneous edits must all land, none fail."""
    office = system.office()

    def define(index: int) -> int:
        body = {
            "name": f"Scenario {index}",
            "scope": "hypotheek",
            "items": [{"document_type": "identiteitsbewijs"}],
        }
        return system.post("scenario", "/scenarios", office.admin, json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(define, range(16)))
    assert answers == [201] * 16
    listed = system.get("scenario", "/scenarios", office.adviser).json()["scenarios"]
    assert sorted(s["name"] for s in listed) == sorted(f"Scenario {i}" for i in range(16))


def test_a_trigger_that_could_never_fire_is_refused(system: System) -> None:
    office = system.office()

    def define(scope: str, trigger: dict[str, Any]) -> int:
        body = {"name": "x", "scope": scope, "items": [{"document_type": "x"}], "trigger": trigger}
        return system.post("scenario", "/scenarios", office.admin, json=body).status_code

    # Appointments have the scope "afspraak"; products the scope of their product type.
    before_meeting = {"event": "appointment_scheduled", "offset_days": -3}
    assert define("afspraak", before_meeting) == 201
    assert define("hypotheek", before_meeting) == 422
    assert define("hypotheek", {"event": "product_created"}) == 201
    assert define("afspraak", {"event": "product_created"}) == 422
    assert define("hypotheek", {"event": "application_submitted", "offset_days": 2}) == 422
    assert define("hypotheek", {"event": "product_archived"}) == 422


def test_a_scenario_of_another_scope_is_refused(system: System, kafka: Broker) -> None:
    office = system.office()
    mortgage = system.define_scenario(office, "hypotheek", "identiteitsbewijs")
    life = system.define_scenario(office, "levensverzekering", "gezondheidsverklaring")

    # The adviser tries the life-insurance scenario under a mortgage, alone or with another one.
    refused = start_runs(system, office, "dossier-1", product(), life)
    assert refused.status_code == 422, refused.text
    assert "scope" in refused.json()["detail"]
    refused = start_runs(system, office, "dossier-1", product(), mortgage, life)
    assert refused.status_code == 422, refused.text

    # Nothing was started by the refused requests: the next start is the only run on the topic.
    started = start_runs(system, office, "dossier-1", product(), mortgage)
    assert started.status_code == 201, started.text
    [run] = started.json()["runs"]
    events = _run_events(kafka, office.tenant, lambda found: "ScenarioExecuted" in _types(found))
    assert [e["data"]["run_id"] for e in events if e["type"] == "ScenarioScheduled"] == [
        run["run_id"]
    ]

    # A scenario that does not exist cannot be started either.
    missing = start_runs(
        system, office, "dossier-1", product(), "00000000-0000-4000-8000-000000000000"
    )
    assert missing.status_code == 422, missing.text


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


# --- starting scenarios ----------------------------------------------------------------------


def test_adviser_starts_several_scenarios_at_once_today(system: System) -> None:
    office = system.office()
    divorced = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "finale_kwijting", name="Gescheiden"
    )
    self_employed = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "jaarcijfers", name="Zelfstandige"
    )

    # The adviser selects both scenarios and keeps the execution date: today, no time.
    before = datetime.now(UTC)
    response = start_runs(system, office, "dossier-1", product(), divorced, self_employed)
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    runs = response.json()["runs"]

    # Two runs, one per scenario, both executed at once.
    assert [r["scenario_id"] for r in runs] == [divorced, self_employed]
    assert len({r["run_id"] for r in runs}) == 2
    assert {r["status"] for r in runs} == {"executed"}
    for run in runs:
        assert before - timedelta(seconds=1) <= _moment(run["execute_at"]) <= after
        assert run_reaches(system, office, run["run_id"], "executed")["scenario_name"] in {
            "Gescheiden",
            "Zelfstandige",
        }

    # The same with today's date spelled out (Europe/Amsterdam, whatever the UTC date is).
    today = datetime.now(AMSTERDAM).date().isoformat()
    response = start_runs(system, office, "dossier-2", product(), self_employed, execute_on=today)
    assert response.status_code == 201, response.text
    assert response.json()["runs"][0]["status"] == "executed"

    # The dossier check holds each requested document type once: the ID is asked by both
    # scenarios but the client gets one task for it.
    def three_documents() -> None:
        assert sorted(d["document_type"] for d in system.documents(office, "dossier-1")) == [
            "finale_kwijting",
            "identiteitsbewijs",
            "jaarcijfers",
        ]

    eventually(three_documents, timeout=SETTLE)

    def three_open_tasks() -> None:
        portal = system.portal(office, "dossier-1")
        assert portal["progress"] == {"open": 3, "completed": 0, "percent": 0}, portal

    eventually(three_open_tasks, timeout=SETTLE)


def test_execution_moments_and_refused_past_moments(system: System) -> None:
    office = system.office()
    scenario = system.define_scenario(office, "hypotheek", "identiteitsbewijs")
    today = datetime.now(AMSTERDAM).date()

    def start(**when: str) -> dict[str, Any]:
        response = start_runs(system, office, "dossier-1", product(), scenario, **when)
        assert response.status_code == 201, response.text
        [run] = response.json()["runs"]
        return run

    # A future date without a time: the start of that day in Amsterdam.
    tomorrow = today + timedelta(days=1)
    run = start(execute_on=tomorrow.isoformat())
    assert run["status"] == "scheduled"
    assert _moment(run["execute_at"]) == datetime.combine(tomorrow, time(0, 0), AMSTERDAM)
    # ... also across a daylight-saving change: midnight in summer is 22:00 UTC.
    summer = date(today.year + 1, 7, 1)
    run = start(execute_on=summer.isoformat())
    assert _moment(run["execute_at"]) == datetime(today.year + 1, 6, 30, 22, 0, tzinfo=UTC)

    # A future date with "Yes, there is a specific execution time": that local time.
    winter = date(today.year + 1, 1, 15)
    run = start(execute_on=winter.isoformat(), execute_at_time="14:30")
    assert _moment(run["execute_at"]) == datetime(today.year + 1, 1, 15, 13, 30, tzinfo=UTC)
    assert run["status"] == "scheduled"

    # An exact moment with its own offset is kept as that instant.
    exact = (datetime.now(UTC) + timedelta(days=2)).astimezone(ZoneInfo("Asia/Kolkata"))
    run = start(execute_at=exact.isoformat())
    assert _moment(run["execute_at"]) == exact
    assert run["status"] == "scheduled"

    # The adviser and an admin can look the run up; it is still waiting.
    fetched = system.get("scenario", f"/scenario-runs/{run['run_id']}", office.adviser)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["status"] == "scheduled"
    assert fetched.json()["executed_at"] is None
    assert system.get("scenario", f"/scenario-runs/{run['run_id']}", office.admin).is_success

    # Past moments are refused with a message: yesterday, an hour ago, a time gone today.
    yesterday = (today - timedelta(days=1)).isoformat()
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    day, gone = _a_time_gone_today()
    for when in (
        {"execute_on": yesterday},
        {"execute_on": yesterday, "execute_at_time": "23:59"},
        {"execute_at": an_hour_ago},
        {"execute_on": day, "execute_at_time": gone},
        {"execute_at_time": gone},  # the date defaults to today
    ):
        refused = start_runs(system, office, "dossier-1", product(), scenario, **when)
        assert refused.status_code == 422, (when, refused.text)
        assert "in the past" in refused.json()["detail"], refused.text

    # A moment given twice over is ambiguous, and a moment without an offset is refused.
    ambiguous = start_runs(
        system,
        office,
        "dossier-1",
        product(),
        scenario,
        execute_on=tomorrow.isoformat(),
        execute_at=exact.isoformat(),
    )
    assert ambiguous.status_code == 422, ambiguous.text
    naive = start_runs(
        system, office, "dossier-1", product(), scenario, execute_at="2099-01-01T10:00:00"
    )
    assert naive.status_code == 422, naive.text


def test_moments_that_cannot_be_planned_are_refused_with_a_message(system: System) -> None:
    office = system.office()
    scenario = system.define_scenario(office, "hypotheek", "identiteitsbewijs")
    today = datetime.now(AMSTERDAM).date()

    def answer(**when: str) -> tuple[int, Any]:
        response = start_runs(system, office, "dossier-1", product(), scenario, **when)
        return response.status_code, response.json()

    # Further ahead than five years: the end of time, or a date just past the limit.
    for when in (
        {"execute_at": "9999-12-31T23:00-05:00"},
        {"execute_on": "9999-12-31", "execute_at_time": "23:59"},
        {"execute_on": (today + timedelta(days=5 * 366 + 1)).isoformat()},
    ):
        status, body = answer(**when)
        assert status == 422, (when, body)
        assert "five years" in body["detail"], body
    # Four years ahead is fine.
    status, body = answer(execute_on=(today + timedelta(days=4 * 365)).isoformat())
    assert status == 201, body

    # A local time with an offset: the offset would be ignored, so it is refused.
    status, body = answer(
        execute_on=(today + timedelta(days=1)).isoformat(), execute_at_time="10:00+05:00"
    )
    assert status == 422, body
    assert "offset" in body["detail"], body

    # 02:30 on the day clocks move forward does not exist in Amsterdam: refused, not moved.
    spring, autumn = _next_daylight_saving_changes(today)
    status, body = answer(execute_on=spring.isoformat(), execute_at_time="02:30")
    assert status == 422, body
    assert "does not exist" in body["detail"], body
    # 02:30 on the day clocks move back happens twice: the first one (summer time) is meant.
    status, body = answer(execute_on=autumn.isoformat(), execute_at_time="02:30")
    assert status == 201, body
    [run] = body["runs"]
    assert _moment(run["execute_at"]) == datetime.combine(autumn, time(0, 30), UTC)


def _next_daylight_saving_changes(today: date) -> tuple[date, date]:
    """The next last Sundays of March and October (Europe/Amsterdam changes clocks then)."""

    def last_sunday(year: int, month: int) -> date:
        last = date(year, month, 31)
        return last - timedelta(days=(last.weekday() + 1) % 7)

    def next_one(month: int) -> date:
        this_year = last_sunday(today.year, month)
        return this_year if this_year > today else last_sunday(today.year + 1, month)

    return next_one(3), next_one(10)


# What a scenario's items may take as JSON in an event (shared/events/codec.py).
ITEMS_BUDGET = 192 * 1024


def test_the_largest_scenario_fits_an_event_and_a_larger_one_is_refused(
    system: System, kafka: Broker
) -> None:
    office = system.office()

    # The admin defines a scenario of 200 items with long titles, as large as allowed.
    largest = {
        "name": "Alles",
        "scope": "hypotheek",
        "items": scenario_items_of_size(ITEMS_BUDGET),
    }
    response = system.post("scenario", "/scenarios", office.admin, json=largest)
    assert response.status_code == 201, response.text
    scenario_id = response.json()["scenario_id"]

    # One byte more is refused, with a message saying why.
    larger = {**largest, "items": scenario_items_of_size(ITEMS_BUDGET + 1)}
    refused = system.post("scenario", "/scenarios", office.admin, json=larger)
    assert refused.status_code == 422, refused.text
    assert "bytes" in refused.text and "fewer items or shorter titles" in refused.text
    changed = system.put("scenario", f"/scenarios/{scenario_id}", office.admin, json=larger)
    assert changed.status_code == 422, changed.text

    # The largest one is published, and a run of it too, for other services to read.
    started = start_runs(
        system,
        office,
        "dossier-1",
        product(),
        scenario_id,
        execute_on=(datetime.now(AMSTERDAM).date() + timedelta(days=1)).isoformat(),
    )
    assert started.status_code == 201, started.text

    def defined_and_scheduled(found: list[dict[str, Any]]) -> bool:
        return {"ScenarioDefined", "ScenarioScheduled"} <= {e["type"] for e in found}

    events = _run_events(kafka, office.tenant, defined_and_scheduled)
    for event in events:
        assert len(event["data"]["items"]) == 200


def _a_time_gone_today() -> tuple[str, str]:
    """Today's date and an HH:MM of today that is over a minute ago (Europe/Amsterdam)."""
    local = datetime.now(AMSTERDAM)
    if local.time() < time(0, 2):  # just after midnight: no minute of today is gone yet
        clock.sleep((datetime.combine(local.date(), time(0, 2), AMSTERDAM) - local).seconds + 1)
        local = datetime.now(AMSTERDAM)
    gone = local - timedelta(minutes=1)
    return local.date().isoformat(), gone.strftime("%H:%M")


def test_adviser_cancels_a_scheduled_run(system: System, kafka: Broker) -> None:
    office = system.office()
    scenario = system.define_scenario(office, "hypotheek", "identiteitsbewijs", "jaarcijfers")

    # The adviser prepares a run for a few seconds from now, then changes their mind.
    moment = datetime.now(UTC) + timedelta(seconds=3)
    response = start_runs(
        system, office, "dossier-1", product(), scenario, execute_at=moment.isoformat()
    )
    [run] = response.json()["runs"]
    assert run["status"] == "scheduled"
    url = f"/scenario-runs/{run['run_id']}"
    assert system.delete("scenario", url, office.adviser).status_code == 204
    assert system.get("scenario", url, office.adviser).json()["status"] == "cancelled"
    # Cancelling again changes nothing.
    assert system.delete("scenario", url, office.adviser).status_code == 204

    # Past its moment it is still cancelled: the scheduler never executes it.
    clock.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 1.0)
    assert system.get("scenario", url, office.adviser).json()["status"] == "cancelled"

    # A run started now, after the moment, marks how far the topic must be read.
    later = start_runs(system, office, "dossier-1", product("hyp-2"), scenario)
    [marker] = later.json()["runs"]
    events = _run_events(
        kafka,
        office.tenant,
        lambda found: any(
            e["type"] == "ScenarioExecuted" and e["data"]["run_id"] == marker["run_id"]
            for e in found
        ),
    )
    about_cancelled = [e for e in events if e["data"].get("run_id") == run["run_id"]]
    assert _types(about_cancelled) == ["ScenarioScheduled", "ScenarioRunCancelled"]
    assert about_cancelled[1]["data"]["reason"] == "cancelled_by_adviser"
    assert about_cancelled[1]["_key"] == f"{office.tenant}:dossier-1".encode()
    # Nothing of it reached the dossier check: only the marker's product has documents.
    eventually(lambda: _assert_only_subject(system, office, "dossier-1", "hyp-2"), timeout=SETTLE)

    # An executed run cannot be cancelled; unknown and other offices' runs are not found.
    executed = f"/scenario-runs/{marker['run_id']}"
    conflict = system.delete("scenario", executed, office.adviser)
    assert conflict.status_code == 409, conflict.text
    unknown = "/scenario-runs/00000000-0000-4000-8000-000000000000"
    assert system.get("scenario", unknown, office.adviser).status_code == 404
    assert system.delete("scenario", unknown, office.adviser).status_code == 404
    other = system.office()
    assert system.get("scenario", executed, other.adviser).status_code == 404
    assert system.delete("scenario", executed, other.adviser).status_code == 404


def _assert_only_subject(system: System, office: Office, dossier_id: str, product_id: str) -> None:
    documents = system.documents(office, dossier_id)
    assert documents, "no documents yet"
    assert {d["subject"]["id"] for d in documents} == {product_id}


def test_a_run_keeps_the_items_it_was_started_with(system: System, kafka: Broker) -> None:
    office = system.office()
    scenario = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "werkgeversverklaring", name="Loondienst"
    )

    # The adviser prepares the scenario for the first mortgage, two seconds ahead.
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    [first] = start_runs(
        system, office, "dossier-1", product("hyp-1"), scenario, execute_at=soon
    ).json()["runs"]
    assert first["status"] == "scheduled"

    # Meanwhile the admin changes the scenario to ask for something else.
    changed = system.put(
        "scenario",
        f"/scenarios/{scenario}",
        office.admin,
        json={
            "name": "Taxatie",
            "scope": "hypotheek",
            "items": [{"document_type": "taxatierapport"}],
        },
    )
    assert changed.status_code == 200, changed.text
    # A run started now gets the new items; one prepared now keeps them even when the admin
    # then deletes the scenario.
    [now_run] = start_runs(system, office, "dossier-1", product("hyp-2"), scenario).json()["runs"]
    assert now_run["scenario_name"] == "Taxatie"
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    [prepared] = start_runs(
        system, office, "dossier-1", product("hyp-3"), scenario, execute_at=soon
    ).json()["runs"]
    assert system.delete("scenario", f"/scenarios/{scenario}", office.admin).status_code == 204
    deleted = start_runs(system, office, "dossier-1", product("hyp-4"), scenario)
    assert deleted.status_code == 422, deleted.text

    # Both prepared runs execute at their moment, each with the items it was started with.
    assert run_reaches(system, office, first["run_id"], "executed")["scenario_name"] == "Loondienst"
    run_reaches(system, office, prepared["run_id"], "executed")

    def documents_per_product() -> None:
        assert _document_types(system, office, "dossier-1", "hyp-1") == {
            "identiteitsbewijs",
            "werkgeversverklaring",
        }
        assert _document_types(system, office, "dossier-1", "hyp-2") == {"taxatierapport"}
        assert _document_types(system, office, "dossier-1", "hyp-3") == {"taxatierapport"}

    eventually(documents_per_product, timeout=SETTLE)

    # On the topic, the first run requested the old documents.
    def first_run_requested(found: list[dict[str, Any]]) -> bool:
        return len(_requested_by(found, first["run_id"])) >= 2

    events = _run_events(kafka, office.tenant, first_run_requested)
    assert sorted(e["data"]["document_type"] for e in _requested_by(events, first["run_id"])) == [
        "identiteitsbewijs",
        "werkgeversverklaring",
    ]


def _requested_by(events: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [
        e for e in events if e["type"] == "DocumentRequested" and e["data"].get("run_id") == run_id
    ]
