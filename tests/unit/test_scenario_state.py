"""A scenario run's typed state and its moves, the domain's refusals by kind, and events stored
by earlier versions (which also carried the run's facts and the office for the outbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from servicekit.domain import Conflict, Invalid, NotFound, Subject, SubjectKind
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import (
    DefineScenario,
    ReceiveDocumentList,
    Scenarios,
    StartScenarios,
)
from services.scenario_service.domainmodel import (
    RUN_TRANSITIONS,
    DocumentListConflict,
    InvalidMoment,
    InvalidTrigger,
    RunAlreadyExecuted,
    RunNotFound,
    RunStatus,
    ScenarioNotFound,
    ScopeMismatch,
    TriggerEvent,
    UnknownScenario,
    check_trigger,
    triggered_run_id,
)
from shared.events.codec import encode

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}

S, E, C = RunStatus.SCHEDULED, RunStatus.EXECUTED, RunStatus.CANCELLED


def popo() -> Scenarios:
    return Scenarios(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def scenarios() -> Iterator[Scenarios]:
    app = popo()
    yield app
    app.close()


# --- the moves of a run, as a table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "then", "allowed"),
    [
        (S, E, True),
        (S, C, True),
        (S, S, False),
        (E, S, False),
        (E, C, False),
        (E, E, False),
        (C, S, False),
        (C, E, False),
        (C, C, False),
    ],
)
def test_which_status_of_a_run_may_follow_which(
    now: RunStatus, then: RunStatus, allowed: bool
) -> None:
    assert (then in RUN_TRANSITIONS[now]) is allowed


def test_every_run_status_has_its_row_and_says_the_same_in_json() -> None:
    assert set(RUN_TRANSITIONS) == set(RunStatus)
    assert [status.pending for status in RunStatus] == [True, False, False]
    assert json.dumps([S, E, C]) == '["scheduled", "executed", "cancelled"]'


def later_run(app: Scenarios, days: int = 1) -> Any:
    scenario_id = app.define_scenario(
        DefineScenario(OFFICE, "Hyp", "hypotheek", [ID_CARD], None, "admin-1")
    )
    command = StartScenarios(
        OFFICE,
        "d1",
        Subject.of(MORTGAGE),
        [scenario_id],
        "adviseur-1",
        execute_at=NOW + timedelta(days=days),
    )
    (run,) = app.start_scenarios(command, NOW)
    return run


@pytest.mark.parametrize(
    ("status", "execute", "cancel", "reschedule"),
    [
        # status     execute                cancel                  reschedule
        (S, E, C, "moved"),
        (E, RunAlreadyExecuted, RunAlreadyExecuted, "stays"),
        (C, RunAlreadyExecuted, C, "stays"),
    ],
)
def test_what_each_command_does_to_a_run_in_each_status(
    scenarios: Scenarios, status: RunStatus, execute: Any, cancel: Any, reschedule: str
) -> None:
    def run_in(status: RunStatus) -> Any:
        run = later_run(scenarios)
        if status is E:
            run.execute(NOW + timedelta(days=1))
        elif status is C:
            run.cancel("cancelled_by_adviser")
        return run

    for command, expected in (("execute", execute), ("cancel", cancel)):
        run = run_in(status)
        act = (lambda r: r.execute(NOW)) if command == "execute" else (lambda r: r.cancel("x"))
        if isinstance(expected, RunStatus):
            act(run)
            assert run.status is expected
        else:
            with pytest.raises(expected):
                act(run)
            assert run.status is status
    run = run_in(status)
    run.reschedule(NOW + timedelta(days=2))
    assert (run.execute_at == NOW + timedelta(days=2)) is (reschedule == "moved")


# --- refusals by kind: one mapping at the edges -----------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ScenarioNotFound, NotFound),
        (RunNotFound, NotFound),
        (UnknownScenario, Invalid),
        (ScopeMismatch, Invalid),
        (InvalidMoment, Invalid),
        (InvalidTrigger, Invalid),
        (RunAlreadyExecuted, Conflict),
        (DocumentListConflict, Conflict),
    ],
)
def test_each_refusal_of_the_scenario_domain_has_its_kind(error: type, kind: type) -> None:
    assert issubclass(error, kind)


def test_a_start_on_the_kafka_path_and_over_http_meets_the_same_moment_rules(
    scenarios: Scenarios,
) -> None:
    # The rules live in the application: a command from any edge is refused the same way.
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Hyp", "hypotheek", [ID_CARD], None, "admin-1")
    )
    yesterday = (NOW - timedelta(days=1)).date()
    command = StartScenarios(
        OFFICE, "d1", Subject.of(MORTGAGE), [scenario_id], "a", execute_on=yesterday
    )
    with pytest.raises(InvalidMoment, match="in the past"):
        scenarios.start_scenarios(command, NOW)


@pytest.mark.parametrize(
    ("scope", "trigger", "problem"),
    [
        ("hypotheek", {"event": "product_created"}, None),
        ("afspraak", {"event": "appointment_scheduled", "offset_days": -3}, None),
        ("hypotheek", {"event": "appointment_scheduled"}, "needs scope 'afspraak'"),
        ("afspraak", {"event": "product_created"}, "needs a product scope"),
        ("hypotheek", {"event": "product_created", "offset_days": 2}, "offset_days belongs"),
    ],
)
def test_a_trigger_that_could_never_fire_is_refused_by_the_domain(
    scenarios: Scenarios, scope: str, trigger: dict[str, Any], problem: str | None
) -> None:
    command = DefineScenario(OFFICE, "S", scope, [ID_CARD], trigger, "admin-1")
    if problem is None:
        check_trigger(scope, trigger)
        scenarios.define_scenario(command)
        return
    with pytest.raises(InvalidTrigger, match=problem):
        scenarios.define_scenario(command)
    assert scenarios.get_scenarios(OFFICE) == []


# --- events stored by earlier versions --------------------------------------------------------


def _as_stored_before(app: Scenarios, event: Any) -> Any:
    """``event`` as versions before "events carry what happened" stored it: catalogue events
    with the office, later run events with the run's facts, both only for the outbox."""
    state = dict(vars(event))
    name = type(event).__qualname__
    if name.startswith("ScenarioCatalogue.Scenario"):
        state["tenant"] = OFFICE
    if name.startswith("ScenarioRun.") and name != "ScenarioRun.Scheduled":
        run = app.repository.get(event.originator_id, version=1)
        state["run"] = {
            "tenant": run.tenant,
            "dossier_id": run.dossier_id,
            "subject": run.subject,
            "scenario_id": str(run.scenario_id),
            "scenario_name": run.scenario_name,
            "items": run.items,
            "started_by": run.started_by,
        }
    old = object.__new__(type(event))
    object.__setattr__(old, "__dict__", state)
    return old


def _published(app: Scenarios) -> list[bytes]:
    translate = scenario_kafka.OUTBOX.translator(app)
    return [
        encode(made)
        for notification in app.recorder.select_notifications(0, 1000)
        for made in translate(app.mapper.to_domain_event(notification))
    ]


def test_events_stored_in_their_earlier_shape_load_and_publish_as_before(
    scenarios: Scenarios,
) -> None:
    # A morning's work: a scenario defined, changed; runs started now, later, moved, cancelled.
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Hyp", "hypotheek", [ID_CARD], None, "admin-1")
    )
    now = StartScenarios(
        OFFICE, "d1", Subject.of(MORTGAGE), [scenario_id], "adviseur-1", execute_at=NOW
    )
    (executed,) = scenarios.start_scenarios(now, NOW)
    moved, cancelled = later_run(scenarios, 3), later_run(scenarios, 4)
    moved.reschedule(NOW + timedelta(days=5))
    scenarios.save(moved)
    scenarios.cancel_run(OFFICE, cancelled.id)
    scenarios.receive_document_list(
        ReceiveDocumentList(OFFICE, "d2", Subject.of(MORTGAGE), "lijst-1", [ID_CARD], "lender")
    )

    # The same history, as an earlier version stored it.
    earlier = popo()
    try:
        for notification in scenarios.recorder.select_notifications(0, 1000):
            event = scenarios.mapper.to_domain_event(notification)
            old = _as_stored_before(scenarios, event)
            earlier.recorder.insert_events([earlier.mapper.to_stored_event(old)])

        # It loads to the same state and publishes the same integration events.
        for run in (executed, moved, cancelled):
            then, now_ = earlier.get_run(OFFICE, run.id), scenarios.get_run(OFFICE, run.id)
            assert (then.status, then.execute_at) == (now_.status, now_.execute_at)
        assert earlier.get_scenarios(OFFICE) == scenarios.get_scenarios(OFFICE)
        assert [earlier.get_run(OFFICE, r.id).status for r in (executed, moved, cancelled)] == [
            E,
            S,
            C,
        ]
        assert _published(earlier) == _published(scenarios)
        assert len(_published(earlier)) == 11  # 3 scenarios, 3 runs (one executed), 1 list
    finally:
        earlier.close()


def test_a_triggered_runs_id_is_the_one_earlier_versions_gave_the_same_fact() -> None:
    # Ids computed by the version before subjects and trigger events were typed: a fact sent
    # again after an upgrade must find the run it started before.
    scenario_id = UUID("12345678-1234-5678-1234-567812345678")
    product = Subject(SubjectKind.PRODUCT, "hyp-1", "hypotheek")
    appointment = Subject.of({"type": "appointment", "id": "a-1", "scope": "afspraak"})

    assert triggered_run_id(scenario_id, "acme", TriggerEvent.PRODUCT_CREATED, product) == UUID(
        "c01550ab-ded1-5836-9274-bcc9225ceb14"
    )
    assert triggered_run_id(
        scenario_id, "acme", TriggerEvent.APPOINTMENT_SCHEDULED, appointment
    ) == UUID("b9ae620b-e26b-56d0-89c1-3d60c3695fcd")
    assert appointment.as_dict() == {"type": "appointment", "id": "a-1", "scope": "afspraak"}
