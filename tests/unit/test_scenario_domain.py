"""Scenarios as admins define them and advisers start them (scenario_service, no broker).

The application runs on eventsourcing's in-memory store; the two-replica scheduler story runs on
one SQLite file shared by two application instances, as two processes would share it.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from services.scenario_service.application import (
    APPOINTMENT_SCOPE,
    ChangeScenario,
    DefineScenario,
    ReceiveDocumentList,
    RequestDocument,
    Scenarios,
    StartScenarios,
    StartTriggered,
)
from services.scenario_service.domainmodel import (
    MAX_PLAN_AHEAD,
    DocumentListConflict,
    DocumentRequest,
    InvalidMoment,
    RunAlreadyExecuted,
    RunNotFound,
    ScenarioCatalogue,
    ScenarioNotFound,
    ScopeMismatch,
    Subject,
    UnknownScenario,
    execution_moment,
    request_ids_for,
)
from services.scenario_service.scheduler import RunScheduler

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2025, 3, 10, 9, 0, tzinfo=AMSTERDAM)
OFFICE = "kantoor-utrecht"
OTHER_OFFICE = "kantoor-amsterdam"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
LIFE = {"type": "product", "id": "lv-1", "scope": "levensverzekering"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}
EMPLOYER = {"document_type": "werkgeversverklaring", "title": None, "action_point": None}
DISCHARGE = {"document_type": "finale_kwijting", "title": "Finale kwijting", "action_point": False}


def define(
    app: Scenarios,
    name: str = "Zelfstandige",
    scope: str = "hypotheek",
    items: list[dict[str, Any]] | None = None,
    trigger: dict[str, Any] | None = None,
    tenant: str = OFFICE,
) -> UUID:
    return app.define_scenario(
        DefineScenario(tenant, name, scope, items or [ID_CARD, EMPLOYER], trigger, "admin-1")
    )


def start(
    app: Scenarios,
    scenario_id: UUID,
    execute_at: datetime = NOW,
    subject: dict[str, Any] = MORTGAGE,
    tenant: str = OFFICE,
) -> Any:
    (run,) = app.start_scenarios(
        StartScenarios(
            tenant,
            "dossier-1",
            Subject.of(subject),
            [scenario_id],
            "adviseur-1",
            execute_at=execute_at,
        ),
        now=NOW,
    )
    return run


def document_types(run: Any) -> list[str]:
    return [item["document_type"] for item in run.items]


def tracking(position: int) -> Tracking:
    return Tracking("platform.products.v1:0", position)


# --- the catalogue (admin) --------------------------------------------------------------------


def test_admin_defines_changes_and_deletes_a_scenario(scenarios: Scenarios) -> None:
    # The admin defines "Zelfstandige" for mortgages.
    scenario_id = define(scenarios)
    assert scenarios.get_scenario(OFFICE, scenario_id)["name"] == "Zelfstandige"

    # They rename it and add the final discharge.
    scenarios.change_scenario(
        ChangeScenario(
            OFFICE,
            "Zelfstandig ondernemer",
            "hypotheek",
            [ID_CARD, EMPLOYER, DISCHARGE],
            None,
            "admin-1",
            scenario_id,
        )
    )
    changed = scenarios.get_scenario(OFFICE, scenario_id)
    assert changed["name"] == "Zelfstandig ondernemer"
    assert [item["document_type"] for item in changed["items"]] == [
        "identiteitsbewijs",
        "werkgeversverklaring",
        "finale_kwijting",
    ]

    # They delete it: it is gone from the catalogue.
    scenarios.delete_scenario(OFFICE, scenario_id, by="admin-1")
    assert scenarios.get_scenarios(OFFICE) == []
    with pytest.raises(ScenarioNotFound):
        scenarios.get_scenario(OFFICE, scenario_id)


def test_changing_or_deleting_a_scenario_that_does_not_exist_is_refused(
    scenarios: Scenarios,
) -> None:
    unknown = uuid4()
    with pytest.raises(ScenarioNotFound):
        scenarios.change_scenario(
            ChangeScenario(OFFICE, "X", "hypotheek", [ID_CARD], None, "a", unknown)
        )
    with pytest.raises(ScenarioNotFound):
        scenarios.delete_scenario(OFFICE, unknown, by="admin-1")


def test_under_a_mortgage_the_adviser_sees_only_mortgage_scenarios(scenarios: Scenarios) -> None:
    define(scenarios, "Zelfstandige", "hypotheek")
    define(scenarios, "Gescheiden", "hypotheek")
    define(scenarios, "Rookvrij", "levensverzekering")

    names = sorted(s["name"] for s in scenarios.get_scenarios(OFFICE, scope="hypotheek"))
    assert names == ["Gescheiden", "Zelfstandige"]
    assert [s["name"] for s in scenarios.get_scenarios(OFFICE, scope="levensverzekering")] == [
        "Rookvrij"
    ]
    assert len(scenarios.get_scenarios(OFFICE)) == 3


def test_another_office_has_its_own_catalogue(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios)
    assert scenarios.get_scenarios(OTHER_OFFICE) == []
    with pytest.raises(ScenarioNotFound):
        scenarios.get_scenario(OTHER_OFFICE, scenario_id)
    # Nor can they start it: to them it is an unknown scenario.
    with pytest.raises(UnknownScenario):
        start(scenarios, scenario_id, tenant=OTHER_OFFICE)


# --- starting scenarios (adviser) -------------------------------------------------------------


def test_a_scenario_started_for_now_requests_its_documents_at_once(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios)

    # The adviser starts it on the mortgage with today's date.
    run = start(scenarios, scenario_id, execute_at=NOW)

    # It executed: one document request per item, with ids that never change.
    stored = scenarios.get_run(OFFICE, run.id)
    assert stored.status == "executed"
    assert stored.executed_at == NOW
    assert stored.request_ids == request_ids_for(run.id, 2)
    assert document_types(stored) == ["identiteitsbewijs", "werkgeversverklaring"]


def test_a_scenario_started_for_a_future_date_waits(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios)
    next_week = NOW + timedelta(days=7)

    run = start(scenarios, scenario_id, execute_at=next_week)

    stored = scenarios.get_run(OFFICE, run.id)
    assert stored.status == "scheduled"
    assert stored.execute_at == next_week
    assert stored.request_ids == []


def test_several_scenarios_start_at_once_each_with_its_own_run(scenarios: Scenarios) -> None:
    self_employed = define(scenarios, "Zelfstandige", items=[ID_CARD])
    divorced = define(scenarios, "Gescheiden", items=[DISCHARGE])

    runs = scenarios.start_scenarios(
        StartScenarios(
            OFFICE,
            "dossier-1",
            Subject.of(MORTGAGE),
            [self_employed, divorced],
            "adviseur-1",
            execute_at=NOW,
        ),
        now=NOW,
    )

    assert [run.scenario_name for run in runs] == ["Zelfstandige", "Gescheiden"]
    assert {run.status for run in runs} == {"executed"}
    assert len({run.id for run in runs}) == 2


def test_a_scenario_of_another_scope_cannot_start_under_this_subject(
    scenarios: Scenarios,
) -> None:
    mortgage_scenario = define(scenarios, scope="hypotheek")

    # Started under a life insurance: refused, and nothing was started.
    with pytest.raises(ScopeMismatch) as refused:
        start(scenarios, mortgage_scenario, subject=LIFE)
    assert str(refused.value).endswith(
        "has scope 'hypotheek', the subject has scope 'levensverzekering'"
    )
    assert scenarios.recorder.select_notifications(0, 100)[-1].topic.endswith("ScenarioDefined")


def test_a_started_run_keeps_the_items_it_had_when_started(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios, items=[ID_CARD, EMPLOYER])
    run = start(scenarios, scenario_id, execute_at=NOW + timedelta(days=3))

    # The admin later drops the employer statement, then deletes the scenario.
    scenarios.change_scenario(
        ChangeScenario(
            OFFICE, "Zelfstandige", "hypotheek", [DISCHARGE], None, "admin-1", scenario_id
        )
    )
    assert document_types(scenarios.get_run(OFFICE, run.id)) == [
        "identiteitsbewijs",
        "werkgeversverklaring",
    ]
    scenarios.delete_scenario(OFFICE, scenario_id, by="admin-1")

    # The run still executes with what it had.
    assert scenarios.execute_run(run.id, NOW + timedelta(days=3))
    executed = scenarios.get_run(OFFICE, run.id)
    assert executed.status == "executed"
    assert document_types(executed) == ["identiteitsbewijs", "werkgeversverklaring"]
    assert executed.request_ids == request_ids_for(run.id, 2)
    assert executed.scenario_name == "Zelfstandige"


def test_adviser_cancels_a_scheduled_run(scenarios: Scenarios) -> None:
    run = start(scenarios, define(scenarios), execute_at=NOW + timedelta(days=1))

    scenarios.cancel_run(OFFICE, run.id)

    cancelled = scenarios.get_run(OFFICE, run.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancel_reason == "cancelled_by_adviser"
    # The moment comes and nothing happens.
    assert scenarios.execute_run(run.id, NOW + timedelta(days=2)) is False
    assert scenarios.get_run(OFFICE, run.id).status == "cancelled"


def test_an_executed_run_cannot_be_cancelled(scenarios: Scenarios) -> None:
    run = start(scenarios, define(scenarios), execute_at=NOW)

    with pytest.raises(RunAlreadyExecuted):
        scenarios.cancel_run(OFFICE, run.id)
    assert scenarios.get_run(OFFICE, run.id).status == "executed"


def test_another_offices_run_does_not_exist_for_this_office(scenarios: Scenarios) -> None:
    run = start(scenarios, define(scenarios), execute_at=NOW + timedelta(days=1))

    with pytest.raises(RunNotFound):
        scenarios.get_run(OTHER_OFFICE, run.id)
    with pytest.raises(RunNotFound):
        scenarios.cancel_run(OTHER_OFFICE, run.id)
    # Their attempt changed nothing.
    assert scenarios.get_run(OFFICE, run.id).status == "scheduled"


def test_an_unknown_run_id_is_not_found(scenarios: Scenarios) -> None:
    with pytest.raises(RunNotFound):
        scenarios.get_run(OFFICE, uuid4())
    # Nor is the id of something that is not a run (here: the office's catalogue).
    define(scenarios)
    catalogue_id = ScenarioCatalogue.create_id(OFFICE)
    with pytest.raises(RunNotFound):
        scenarios.get_run(OFFICE, catalogue_id)


# --- execution moments ---------------------------------------------------------------------------


UTC_NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam


def test_execution_moments_in_amsterdam_time() -> None:
    # Today without a time is now; a future date is its start; a date and time is that time.
    assert execution_moment(UTC_NOW) == UTC_NOW
    assert execution_moment(UTC_NOW, execute_on=date(2025, 3, 11)) == datetime(
        2025, 3, 10, 23, 0, tzinfo=UTC
    )
    assert execution_moment(
        UTC_NOW, execute_on=date(2025, 7, 1), execute_at_time=dtime(14, 30)
    ) == datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
    # The repeated hour of the autumn change is its first occurrence (still summer time).
    assert execution_moment(
        UTC_NOW, execute_on=date(2025, 10, 26), execute_at_time=dtime(2, 30)
    ) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    # An exact moment keeps its instant; five years ahead is the last that can be planned.
    limit = UTC_NOW + MAX_PLAN_AHEAD
    assert execution_moment(UTC_NOW, execute_at=limit.astimezone(AMSTERDAM)) == limit


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            {"execute_at": datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))},
            "five years",
        ),
        ({"execute_at": UTC_NOW + MAX_PLAN_AHEAD + timedelta(seconds=1)}, "five years"),
        ({"execute_on": date(9999, 12, 31), "execute_at_time": dtime(23, 59)}, "five years"),
        ({"execute_on": date(2030, 3, 12)}, "five years"),
        ({"execute_on": date(1, 1, 1), "execute_at_time": dtime(0, 0)}, "in the past"),
        (
            {"execute_at": datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5)))},
            "in the past",
        ),
        ({"execute_at_time": dtime(8, 59)}, "in the past"),
        ({"execute_on": date(2025, 3, 30), "execute_at_time": dtime(2, 30)}, "does not exist"),
        (
            {"execute_on": date(2025, 3, 11), "execute_at_time": dtime(10, 0, tzinfo=UTC)},
            "offset",
        ),
        ({"execute_on": date(2025, 3, 11), "execute_at": UTC_NOW}, "not both"),
    ],
)
def test_execution_moments_that_cannot_be_planned_are_refused(
    when: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidMoment, match=message):
        execution_moment(UTC_NOW, **when)


# --- document lists (stukkenlijsten) and manual requests --------------------------------------


def test_a_document_list_received_twice_is_recorded_once(scenarios: Scenarios) -> None:
    items = [{"document_type": "taxatierapport", "title": "Taxatierapport", "action_point": None}]

    # The lender sends its list ...
    first, created = scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "lender-42", items, received_from="lender"
        )
    )
    assert created is True
    # ... and sends it again.
    second, created_again = scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "lender-42", items, received_from="lender"
        )
    )
    assert created_again is False
    assert second.id == first.id
    assert second.request_ids == first.request_ids == request_ids_for(first.id, 1)

    # Another office may use the same reference for its own list.
    theirs, theirs_created = scenarios.receive_document_list(
        ReceiveDocumentList(
            OTHER_OFFICE,
            "dossier-9",
            Subject.of(MORTGAGE),
            "lender-42",
            items,
            received_from="lender",
        )
    )
    assert theirs_created is True
    assert theirs.id != first.id


def test_another_list_under_a_known_reference_is_refused_not_dropped(
    scenarios: Scenarios,
) -> None:
    items = [{"document_type": "taxatierapport", "title": "Taxatierapport", "action_point": None}]
    first, _ = scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "lender-42", items, received_from="lender"
        )
    )

    # The same reference with other items, for another dossier or for another subject.
    other_items = [*items, {"document_type": "koopakte", "title": None, "action_point": None}]
    for dossier_id, subject, listed in [
        ("dossier-1", MORTGAGE, other_items),
        ("dossier-2", MORTGAGE, items),
        ("dossier-1", LIFE, items),
    ]:
        with pytest.raises(DocumentListConflict, match="lender-42"):
            scenarios.receive_document_list(
                ReceiveDocumentList(
                    OFFICE,
                    dossier_id,
                    Subject.of(subject),
                    "lender-42",
                    listed,
                    received_from="lender",
                )
            )

    # Nothing was recorded for them; the same list again is still a quiet repeat.
    assert len(scenarios.recorder.select_notifications(0, 100)) == 1
    again, created = scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE,
            "dossier-1",
            Subject.of(MORTGAGE),
            "lender-42",
            items,
            received_from="another-sender",
        )
    )
    assert (again.id, created) == (first.id, False)


def test_a_manual_request_is_recorded_with_what_the_adviser_asked(scenarios: Scenarios) -> None:
    request_id = scenarios.request_document(
        RequestDocument(
            OFFICE,
            "dossier-1",
            Subject.of(MORTGAGE),
            "identiteitsbewijs",
            "Paspoort",
            True,
            "adviseur-1",
        )
    )
    request: DocumentRequest = scenarios.repository.get(request_id)
    assert (request.tenant, request.dossier_id, request.document_type) == (
        OFFICE,
        "dossier-1",
        "identiteitsbewijs",
    )
    assert request.action_point is True


# --- scenarios that start by themselves ---------------------------------------------------------


def test_a_new_mortgage_starts_only_the_mortgage_scenarios_triggered_by_product_creation(
    scenarios: Scenarios,
) -> None:
    on_creation = {"event": "product_created"}
    define(scenarios, "Nieuwe hypotheek", "hypotheek", trigger=on_creation)
    define(scenarios, "Nieuwe levensverzekering", "levensverzekering", trigger=on_creation)
    define(scenarios, "Bij aanvraag", "hypotheek", trigger={"event": "application_submitted"})
    define(scenarios, "Handmatig", "hypotheek")

    # The platform reports a new mortgage in the dossier.
    runs = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
        ),
        now=NOW,
        tracking=tracking(1),
    )

    assert [run.scenario_name for run in runs] == ["Nieuwe hypotheek"]
    assert runs[0].status == "executed"
    assert runs[0].started_by == "trigger:product_created"
    assert scenarios.max_tracking_id("platform.products.v1:0") == 1


def test_the_same_product_event_twice_starts_nothing_new(scenarios: Scenarios) -> None:
    define(scenarios, trigger={"event": "product_created"})
    first = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
        ),
        now=NOW,
        tracking=tracking(1),
    )

    # The same platform event arrives again (a republish, so at a new offset).
    again = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
        ),
        now=NOW,
        tracking=tracking(2),
    )

    assert len(first) == 1
    assert again == []
    # Its position is still recorded, so the consumer moves on.
    assert scenarios.max_tracking_id("platform.products.v1:0") == 2


def test_the_same_product_fact_sent_again_with_a_new_id_starts_nothing_new(
    scenarios: Scenarios,
) -> None:
    on_creation = define(scenarios, "Nieuwe hypotheek", trigger={"event": "product_created"})
    on_submission = define(
        scenarios, "Aanvraag ingediend", trigger={"event": "application_submitted"}
    )
    (created,) = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
        ),
        now=NOW,
        tracking=tracking(1),
    )

    # The platform sends the same fact again as a new event (a new CloudEvent id).
    again = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-2"
        ),
        now=NOW,
        tracking=tracking(2),
    )
    assert again == []

    # The application for the mortgage is submitted, twice: its own scenario starts once.
    (submitted,) = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "application_submitted", cause="event-3"
        ),
        now=NOW,
        tracking=tracking(3),
    )
    assert (
        scenarios.start_triggered(
            StartTriggered(
                OFFICE, "dossier-1", Subject.of(MORTGAGE), "application_submitted", cause="event-4"
            ),
            now=NOW,
            tracking=tracking(4),
        )
        == []
    )
    assert (created.scenario_id, submitted.scenario_id) == (on_creation, on_submission)

    # Another mortgage, and the same mortgage id in another office, start their own runs.
    other_mortgage = {**MORTGAGE, "id": "hyp-2"}
    assert (
        len(
            scenarios.start_triggered(
                StartTriggered(
                    OFFICE,
                    "dossier-1",
                    Subject.of(other_mortgage),
                    "product_created",
                    cause="event-5",
                ),
                now=NOW,
                tracking=tracking(5),
            )
        )
        == 1
    )
    define(scenarios, trigger={"event": "product_created"}, tenant=OTHER_OFFICE)
    assert (
        len(
            scenarios.start_triggered(
                StartTriggered(
                    OTHER_OFFICE,
                    "dossier-1",
                    Subject.of(MORTGAGE),
                    "product_created",
                    cause="event-6",
                ),
                now=NOW,
                tracking=tracking(6),
            )
        )
        == 1
    )
    assert scenarios.max_tracking_id("platform.products.v1:0") == 6


def test_a_run_started_before_runs_were_keyed_by_fact_still_counts(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios, trigger={"event": "product_created"})
    # An earlier version keyed a triggered run by the platform event's id.
    scenario = scenarios.get_scenario(OFFICE, scenario_id)
    legacy_id = uuid5(scenario_id, f"{OFFICE}:event-1")
    fact = StartTriggered(
        OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
    )
    earlier = scenarios._new_run(legacy_id, fact, scenario, NOW, "trigger:product_created")
    earlier.execute(NOW)
    scenarios.save(earlier)

    # The platform republishes that event: nothing new starts.
    again = scenarios.start_triggered(
        StartTriggered(
            OFFICE, "dossier-1", Subject.of(MORTGAGE), "product_created", cause="event-1"
        ),
        now=NOW,
        tracking=tracking(1),
    )
    assert again == []


def test_an_appointment_scenario_runs_three_days_before_the_appointment(
    scenarios: Scenarios,
) -> None:
    define(
        scenarios,
        "Voor het adviesgesprek",
        APPOINTMENT_SCOPE,
        trigger={"event": "appointment_scheduled", "offset_days": -3},
    )
    starts_at = NOW + timedelta(days=10)
    run = appointment_scheduled(scenarios, starts_at)

    assert run.status == "scheduled"
    assert run.execute_at == starts_at - timedelta(days=3)


def test_an_appointment_in_two_days_runs_its_three_days_before_scenario_now(
    scenarios: Scenarios,
) -> None:
    define(
        scenarios,
        scope=APPOINTMENT_SCOPE,
        trigger={"event": "appointment_scheduled", "offset_days": -3},
    )
    run = appointment_scheduled(scenarios, NOW + timedelta(days=2))

    # Three days before is in the past: the documents are requested right away.
    assert run.status == "executed"


def appointment_scheduled(scenarios: Scenarios, starts_at: datetime) -> Any:
    """The platform says appointment ``afspraak-1`` of dossier-1 starts at ``starts_at``: the
    one run its triggered scenario makes."""
    appointment = {"type": "appointment", "id": "afspraak-1", "scope": APPOINTMENT_SCOPE}
    (run,) = scenarios.start_triggered(
        StartTriggered(
            OFFICE,
            "dossier-1",
            Subject.of(appointment),
            "appointment_scheduled",
            cause="event-1",
            starts_at=starts_at,
        ),
        now=NOW,
        tracking=tracking(1),
    )
    return run


def schedule_appointment(scenarios: Scenarios, offset_days: int = -3) -> tuple[Any, datetime]:
    define(
        scenarios,
        scope=APPOINTMENT_SCOPE,
        trigger={"event": "appointment_scheduled", "offset_days": offset_days},
    )
    starts_at = NOW + timedelta(days=10)
    run = appointment_scheduled(scenarios, starts_at)
    return run, starts_at


def test_the_same_appointment_scheduled_again_moves_its_runs_instead_of_starting_them_again(
    scenarios: Scenarios,
) -> None:
    run, starts_at = schedule_appointment(scenarios)

    # The agenda sends AppointmentScheduled again for the same appointment, a day later.
    later = starts_at + timedelta(days=1)
    again = scenarios.start_triggered(
        StartTriggered(
            OFFICE,
            "dossier-1",
            Subject.of({"type": "appointment", "id": "afspraak-1", "scope": APPOINTMENT_SCOPE}),
            "appointment_scheduled",
            cause="event-2",
            starts_at=later,
        ),
        now=NOW,
        tracking=tracking(2),
    )

    # No second run: the first one moved with the appointment, as on a reschedule.
    assert again == []
    moved = scenarios.get_run(OFFICE, run.id)
    assert (moved.status, moved.execute_at) == ("scheduled", later - timedelta(days=3))
    runs = {
        n.originator_id
        for n in scenarios.recorder.select_notifications(0, 100)
        if ":ScenarioRun." in n.topic
    }
    assert runs == {run.id}
    assert scenarios.max_tracking_id("platform.products.v1:0") == 2


def test_rescheduling_the_appointment_moves_its_pending_runs(scenarios: Scenarios) -> None:
    run, starts_at = schedule_appointment(scenarios)

    # The appointment moves a week later.
    later = starts_at + timedelta(days=7)
    scenarios.reschedule_appointment(OFFICE, "afspraak-1", later, NOW, tracking(2))

    moved = scenarios.get_run(OFFICE, run.id)
    assert moved.status == "scheduled"
    assert moved.execute_at == later - timedelta(days=3)


def test_cancelling_the_appointment_cancels_its_pending_runs(scenarios: Scenarios) -> None:
    run, _ = schedule_appointment(scenarios)

    scenarios.cancel_appointment(OFFICE, "afspraak-1", tracking(2))

    cancelled = scenarios.get_run(OFFICE, run.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancel_reason == "appointment_cancelled"


def test_rescheduling_or_cancelling_an_unknown_appointment_only_records_the_position(
    scenarios: Scenarios,
) -> None:
    scenarios.reschedule_appointment(OFFICE, "afspraak-x", NOW, NOW, tracking(1))
    scenarios.cancel_appointment(OFFICE, "afspraak-x", tracking(2))

    assert scenarios.recorder.select_notifications(0, 10) == []
    assert scenarios.max_tracking_id("platform.products.v1:0") == 2


# --- the scheduler ------------------------------------------------------------------------------


def test_the_scheduler_executes_only_the_runs_that_are_due(scenarios: Scenarios) -> None:
    scenario_id = define(scenarios)
    tomorrow = start(scenarios, scenario_id, execute_at=NOW + timedelta(days=1))
    next_week = start(scenarios, scenario_id, execute_at=NOW + timedelta(days=7))
    scheduler = RunScheduler(scenarios)

    # Nothing is due yet.
    assert scheduler.execute_due(NOW) == 0

    # Tomorrow comes: only tomorrow's run executes.
    assert scheduler.execute_due(NOW + timedelta(days=1)) == 1
    assert scenarios.get_run(OFFICE, tomorrow.id).status == "executed"
    assert scenarios.get_run(OFFICE, next_week.id).status == "scheduled"

    # The next tick executes nothing again.
    assert scheduler.execute_due(NOW + timedelta(days=1, minutes=1)) == 0


def test_the_scheduler_skips_cancelled_runs_and_follows_moved_ones(scenarios: Scenarios) -> None:
    cancelled = start(scenarios, define(scenarios), execute_at=NOW + timedelta(days=1))
    scenarios.cancel_run(OFFICE, cancelled.id)
    moved, starts_at = schedule_appointment(scenarios)  # due at starts_at - 3 days
    scheduler = RunScheduler(scenarios)
    assert scheduler.execute_due(NOW) == 0

    # The appointment moves two days later, so its run does too.
    scenarios.reschedule_appointment(
        OFFICE, "afspraak-1", starts_at + timedelta(days=2), NOW, tracking(2)
    )

    assert scheduler.execute_due(starts_at - timedelta(days=3)) == 0
    assert scheduler.execute_due(starts_at - timedelta(days=1)) == 1
    assert scenarios.get_run(OFFICE, moved.id).status == "executed"
    assert scenarios.get_run(OFFICE, cancelled.id).status == "cancelled"


class ConflictingSaves:
    """A store where the next ``conflicts`` saves fail as if another replica saved first."""

    def __init__(self, app: Scenarios, conflicts: int) -> None:
        self.save = app.save
        self.conflicts = conflicts
        self.attempts = 0

    def __call__(self, *objs: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            raise IntegrityError("another replica saved first")
        return self.save(*objs, **kwargs)


def test_a_run_whose_saves_keep_conflicting_is_retried_until_it_executes(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start(scenarios, define(scenarios), execute_at=NOW + timedelta(hours=1))
    scheduler = RunScheduler(scenarios)
    saves = ConflictingSaves(scenarios, conflicts=12)
    monkeypatch.setattr(scenarios, "save", saves)

    # The run falls due, but its save conflicts tick after tick.
    due = NOW + timedelta(hours=1)
    assert scheduler.execute_due(due) == 0
    assert run.id in scheduler.pending
    attempts = saves.attempts
    # The next tick at the same moment leaves it alone (it backs off) ...
    assert scheduler.execute_due(due) == 0
    assert saves.attempts == attempts

    # ... and a later one tries again, until the conflicts are over: it executes once.
    executed = [scheduler.execute_due(due + timedelta(minutes=tick)) for tick in range(1, 11)]
    assert sum(executed) == 1
    assert scenarios.get_run(OFFICE, run.id).status == "executed"
    assert scheduler.pending == {}


def test_a_run_that_cannot_be_saved_leaves_the_scheduler_once_cancelled(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = start(scenarios, define(scenarios), execute_at=NOW + timedelta(hours=1))
    other = start(scenarios, define(scenarios), execute_at=NOW + timedelta(hours=2))
    scheduler = RunScheduler(scenarios)
    monkeypatch.setattr(scenarios, "save", ConflictingSaves(scenarios, conflicts=10**6))
    for tick in range(1, 5):
        assert scheduler.execute_due(NOW + timedelta(hours=1, minutes=tick)) == 0
    assert run.id in scheduler.pending

    # The adviser cancels it: the scheduler stops trying; the other run still executes.
    monkeypatch.undo()
    scenarios.cancel_run(OFFICE, run.id)
    assert scheduler.execute_due(NOW + timedelta(hours=2)) == 1
    assert scheduler.pending == {}
    assert scenarios.get_run(OFFICE, other.id).status == "executed"


def test_two_replicas_execute_a_due_run_exactly_once(tmp_path: Path) -> None:
    # Two replicas of the scenario service share one event store.
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "scenario.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    replica_a, replica_b = Scenarios(env=env), Scenarios(env=env)
    try:
        # The adviser starts a scenario for tomorrow on replica A.
        run = start(replica_a, define(replica_a), execute_at=NOW + timedelta(days=1))
        scheduler_a, scheduler_b = RunScheduler(replica_a), RunScheduler(replica_b)
        # Both replicas know the run is pending.
        assert scheduler_a.execute_due(NOW) == scheduler_b.execute_due(NOW) == 0

        # Tomorrow comes for both.
        due = NOW + timedelta(days=1)
        executed = scheduler_a.execute_due(due) + scheduler_b.execute_due(due)

        assert executed == 1
        assert replica_b.get_run(OFFICE, run.id).status == "executed"
        executions = [
            n
            for n in replica_b.recorder.select_notifications(0, 100)
            if n.topic.endswith(":ScenarioRun.Executed")
        ]
        assert len(executions) == 1
    finally:
        replica_a.close()
        replica_b.close()


def test_two_replicas_ticking_at_the_same_moment_execute_each_run_once(tmp_path: Path) -> None:
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "scenario.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }
    replica_a, replica_b = Scenarios(env=env), Scenarios(env=env)
    try:
        # Twenty dossiers each get a run for tomorrow.
        scenario_id = define(replica_a)
        runs = [
            replica_a.start_scenarios(
                StartScenarios(
                    OFFICE,
                    f"dossier-{n}",
                    Subject.of(MORTGAGE),
                    [scenario_id],
                    "a",
                    execute_at=NOW + timedelta(days=1),
                ),
                now=NOW,
            )[0]
            for n in range(20)
        ]
        schedulers = [RunScheduler(replica_a), RunScheduler(replica_b)]
        for scheduler in schedulers:
            scheduler.catch_up()

        # Both replicas tick at the same moment, in parallel.
        due = NOW + timedelta(days=1)
        barrier = threading.Barrier(2)
        counts: list[int] = []

        def tick(scheduler: RunScheduler) -> None:
            barrier.wait()
            counts.append(scheduler.execute_due(due))

        threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        # Every run executed, and none twice.
        assert sum(counts) == 20
        assert {replica_b.get_run(OFFICE, run.id).status for run in runs} == {"executed"}
        executions = [
            n.originator_id
            for n in replica_a.recorder.select_notifications(0, 1000)
            if n.topic.endswith(":ScenarioRun.Executed")
        ]
        assert sorted(executions) == sorted(run.id for run in runs)
    finally:
        replica_a.close()
        replica_b.close()
