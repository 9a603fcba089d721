"""Households and real needs lists (SPEC section 9, issue 19): a document is one (subject,
document type, person, period); per-person and per-period scenario items expand when their run
executes; instructions travel with the request to the client's action point.

Stories on the in-memory stores: the scenario service's outbox feeds the dossier check's
handler, whose outbox feeds the portal's read model, as the topics would."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from pydantic import ValidationError

from servicekit.domain import Person
from services.dossiercontrole_service import kafka as dossier_kafka
from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.dossiercontrole_service.domainmodel import DossierCheck
from services.portal_projection.views import PortalView
from services.portal_projection.web.labels import described
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service import main as scenario_main
from services.scenario_service.application import (
    DefineScenario,
    RequestDocument,
    Scenarios,
    SetHousehold,
    StartScenarios,
)
from services.scenario_service.domainmodel import InvalidHousehold, Subject
from services.scenario_service.household import (
    MAX_RUN_REQUESTS,
    expansion_problem,
    needs_of,
)
from services.scenario_service.http import DocumentRequestIn, HouseholdIn, ScenarioIn
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import InvalidEvent, decode, encode, new_event
from tests.unit.kafka_edge import (
    DOSSIER,
    MORTGAGE,
    NOW,
    OFFICE,
    FakeDLQ,
    Outbox,
    consumer_with,
    record,
)
from tests.unit.test_tenancy import adviser_of, service

PAYSLIP = {"document_type": "loonstrook", "title": "Loonstrook", "per_person": True}
TAX_RETURNS = {
    "document_type": "ib_aangifte",
    "title": "IB-aangifte",
    "periods": ["2022", "2023", "2024"],
    "instructions": "Alle pagina's, ook de lege",
}
HOUSEHOLD = [
    {"role": "aanvrager", "name": "Jan Jansen"},
    {"role": "partner", "name": "Piet Jansen"},
]


def test_an_item_that_does_not_expand_keeps_the_request_id_it_always_had() -> None:
    run_id = uuid4()
    (need,) = needs_of([{"document_type": "identiteitsbewijs"}], Subject.of(MORTGAGE), None)

    assert need.request_id(run_id) == uuid5(run_id, "item:0")
    assert (need.person, need.period) == (None, None)


def test_per_person_asks_each_person_and_periods_each_period_both_every_pair() -> None:
    subject = Subject.of(MORTGAGE)
    both = {**PAYSLIP, "periods": ["januari 2026", "februari 2026"]}

    needs = needs_of([PAYSLIP, TAX_RETURNS, both], subject, HOUSEHOLD)

    assert [(n.index, n.person and n.person.role, n.period) for n in needs] == [
        (0, "aanvrager", None),
        (0, "partner", None),
        (1, None, "2022"),
        (1, None, "2023"),
        (1, None, "2024"),
        (2, "aanvrager", "januari 2026"),
        (2, "aanvrager", "februari 2026"),
        (2, "partner", "januari 2026"),
        (2, "partner", "februari 2026"),
    ]
    # Each its own request id, the same every time the run's facts are read.
    run_id = uuid4()
    ids = [n.request_id(run_id) for n in needs]
    assert len(set(ids)) == len(ids)
    assert ids == [
        n.request_id(run_id) for n in needs_of([PAYSLIP, TAX_RETURNS, both], subject, HOUSEHOLD)
    ]


def test_an_empty_household_asks_the_applicant_alone() -> None:
    for household in (None, []):
        (need,) = needs_of([PAYSLIP], Subject.of(MORTGAGE), household)
        assert need.person == Person("aanvrager")


def test_parts_that_would_run_together_in_text_make_different_request_ids() -> None:
    # A period holding the separators of a naive "item:index:role:id:period" key.
    run_id = uuid4()
    household = [
        {"role": "other", "id": "a:b", "name": "A"},
        {"role": "other", "id": "a", "name": "B"},
    ]
    item = {"document_type": "loonstrook", "per_person": True, "periods": ["c", "b:c"]}

    needs = needs_of([item], Subject.of(MORTGAGE), household)

    ids = {n.request_id(run_id) for n in needs}
    assert len(ids) == len(needs) == 4


def test_a_scenario_that_could_ask_too_many_documents_is_refused() -> None:
    months = [f"maand {n}" for n in range(1, 13)]
    items = [
        {"document_type": f"type_{n}", "per_person": True, "periods": months} for n in range(9)
    ]

    assert expansion_problem(items) is not None  # 9 x 12 x 10 persons
    assert expansion_problem(items[:8]) is None  # 960 <= MAX_RUN_REQUESTS
    assert MAX_RUN_REQUESTS == 1000
    with pytest.raises(ValidationError, match="more than the 1000 a run may"):
        ScenarioIn.model_validate({"name": "Veel", "scope": "hypotheek", "items": items})


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"period": "x" * 41}, "at most 40 characters"),
        ({"instructions": "x" * 1001}, "at most 1000 characters"),
        ({"periods": ["2024", "2024"]}, "periods must differ"),
        ({"period": "2024", "periods": ["2023"]}, "not both"),
        ({"periods": []}, "at least 1 item"),
        ({"per_person": 1}, "valid boolean"),
    ],
)
def test_an_item_with_a_bad_period_or_instructions_is_refused_with_a_message(
    item: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ScenarioIn.model_validate(
            {"name": "S", "scope": "hypotheek", "items": [{"document_type": "x", **item}]}
        )


def test_a_person_of_an_unknown_role_is_refused() -> None:
    subject = {**MORTGAGE, "person": {"role": "kind"}}
    with pytest.raises(ValidationError, match="aanvrager"):
        DocumentRequestIn.model_validate(
            {"dossier_id": DOSSIER, "subject": subject, "document_type": "loonstrook"}
        )
    with pytest.raises(ValidationError, match="aanvrager"):
        HouseholdIn.model_validate({"persons": [{"role": "kind", "name": "K"}]})


def test_two_persons_that_cannot_be_told_apart_are_refused(scenarios: Scenarios) -> None:
    twins = [{"role": "other", "name": "A"}, {"role": "other", "name": "B"}]
    with pytest.raises(ValidationError, match="give each person of one role its own id"):
        HouseholdIn.model_validate({"persons": twins})
    with pytest.raises(InvalidHousehold):
        scenarios.set_household(SetHousehold(OFFICE, DOSSIER, twins, "adviser:a-1"))
    told_apart = [{**twins[0], "id": "kind-1"}, {**twins[1], "id": "kind-2"}]
    assert scenarios.set_household(SetHousehold(OFFICE, DOSSIER, told_apart, "adviser:a-1"))


def test_a_household_belongs_to_its_office_and_dossier(scenarios: Scenarios) -> None:
    scenarios.set_household(SetHousehold(OFFICE, DOSSIER, HOUSEHOLD, "adviser:a-1"))

    assert scenarios.get_household(OFFICE, DOSSIER) == HOUSEHOLD
    assert scenarios.get_household("kantoor-2", DOSSIER) == []
    assert scenarios.get_household(OFFICE, "dossier-2") == []


# --- the story: from the household to the client's action points ------------------------------


def _flow(scenarios: Scenarios, checks: DossierChecks) -> tuple[Outbox, Outbox]:
    return (
        Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios)),
        Outbox(checks, topics.DOSSIERCONTROLE, dossier_kafka.OUTBOX.translator(checks)),
    )


def _deliver(
    published: list[c.CloudEvent], checks: DossierChecks, position: list[int]
) -> list[c.DocumentRequested]:
    handle = dossier_kafka.handlers(checks, now=lambda: NOW)["DocumentRequested"]
    requested = [e for e in published if isinstance(e, c.DocumentRequested)]
    for event in requested:
        position[0] += 1
        handle(event, Tracking("actiepunten.scenario.v1:0", position[0]))
    return requested


def _project(published: list[c.CloudEvent], view: PortalView, position: list[int]) -> None:
    for event in published:
        position[0] += 1
        view.process(event, Tracking("actiepunten.dossiercontrole.v1:0", position[0]))


def test_a_household_of_two_gets_a_payslip_each_and_three_tax_returns(
    scenarios: Scenarios, checks: DossierChecks, view: PortalView
) -> None:
    scenario_outbox, check_outbox = _flow(scenarios, checks)
    consumed, projected = [0], [0]
    # The adviser names the household; the admin's scenario asks a payslip per person and the
    # IB-aangifte of three years.
    scenarios.set_household(SetHousehold(OFFICE, DOSSIER, HOUSEHOLD, "adviser:a-1"))
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Inkomen", "hypotheek", [PAYSLIP, TAX_RETURNS], None, "admin-1")
    )

    # The adviser starts it now on the mortgage.
    start = StartScenarios(OFFICE, DOSSIER, Subject.of(MORTGAGE), [scenario_id], "adviser:a-1")
    (run,) = scenarios.start_scenarios(start, NOW)
    requested = _deliver(scenario_outbox.new(), checks, consumed)

    assert len(run.request_ids) == len(requested) == 5
    # The run keeps whom it asked, not their names.
    assert run.household == [{"role": "aanvrager"}, {"role": "partner"}]
    assert [(r.data.subject.person, r.data.period) for r in requested] == [
        (c.Person(role="aanvrager"), None),
        (c.Person(role="partner"), None),
        (None, "2022"),
        (None, "2023"),
        (None, "2024"),
    ]
    assert {r.data.instructions for r in requested[2:]} == {"Alle pagina's, ook de lege"}
    # Five documents, each with its own action point on the portal.
    _project(check_outbox.new(), view, projected)
    points = view.action_points(OFFICE, DOSSIER)
    assert sorted(described(p) for p in points) == [
        "IB-aangifte, 2022",
        "IB-aangifte, 2023",
        "IB-aangifte, 2024",
        "Loonstrook, aanvrager",
        "Loonstrook, partner",
    ]
    assert {p["instructions"] for p in points if p["period"]} == {"Alle pagina's, ook de lege"}

    # Started again (another run), the same four parts merge: no second document or task.
    (again,) = scenarios.start_scenarios(start, NOW)
    _deliver(scenario_outbox.new(), checks, consumed)
    check = checks.repository.get(DossierCheck.create_id(OFFICE, DOSSIER))
    assert len(check.current_documents()) == 5
    assert [e.type for e in check_outbox.new()] == []
    assert again.request_ids != run.request_ids


def test_only_the_same_subject_type_person_and_period_merge(checks: DossierChecks) -> None:
    def ask(person: dict[str, str] | None, period: str | None) -> UUID | None:
        subject = {**MORTGAGE, "person": person} if person else MORTGAGE
        return checks.add_requested_document(
            AddRequestedDocument(
                OFFICE, DOSSIER, uuid4(), subject, "loonstrook", None, None, NOW, period=period
            )
        )

    first = ask({"role": "partner"}, "januari 2026")
    assert ask({"role": "partner"}, "januari 2026") is None  # merged into the first
    others = [
        ask({"role": "partner"}, "februari 2026"),
        ask({"role": "aanvrager"}, "januari 2026"),
        ask({"role": "partner", "id": "p-2"}, "januari 2026"),
        ask(None, "januari 2026"),  # no person named: the dossier's own, another document
        ask({"role": "partner"}, None),
    ]
    assert first is not None and None not in others
    assert len(set(others) | {first}) == 6


def test_a_manual_request_carries_its_period_and_instructions(scenarios: Scenarios) -> None:
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    subject = Subject.of({**MORTGAGE, "person": {"role": "partner"}})
    scenarios.request_document(
        RequestDocument(
            OFFICE,
            DOSSIER,
            subject,
            "loonstrook",
            "Loonstrook",
            None,
            "adviser:a-1",
            period="januari 2026",
            instructions="Met uw naam erop",
        )
    )
    (requested,) = outbox.new()

    assert requested.data.subject.person == c.Person(role="partner")
    assert (requested.data.period, requested.data.instructions) == (
        "januari 2026",
        "Met uw naam erop",
    )
    assert described(requested.data.model_dump()) == "Loonstrook, partner, januari 2026"


def test_records_without_the_new_fields_are_written_as_before() -> None:
    """New fields are optional within the dataversion and left out when unset: a record of a
    request without person, period or instructions is byte for byte what it was."""
    data = {
        "request_id": str(UUID(int=1)),
        "dossier_id": DOSSIER,
        "subject": MORTGAGE,
        "document_type": "loonstrook",
        "source": "manual",
        "requested_by": "adviser:a-1",
    }
    event = new_event(c.DocumentRequested, data, source="s", tenant=OFFICE, dossier=DOSSIER)
    written = json.loads(encode(event))["data"]
    assert set(written) == {*data, "action_point"}
    assert c.RequestedItem(document_type="x").model_dump() == {
        "document_type": "x",
        "title": None,
        "action_point": None,
    }


async def test_a_document_list_with_a_bad_period_is_dead_lettered(scenarios: Scenarios) -> None:
    dlq = FakeDLQ()
    consumer = consumer_with(scenario_kafka.handlers(scenarios, now=lambda: NOW), scenarios, dlq)
    listed = new_event(
        c.DocumentListReceived,
        {"subject": MORTGAGE, "reference": "lijst-1", "items": [{"document_type": "loonstrook"}]},
        source="platform/bank",
        tenant=OFFICE,
        dossier=DOSSIER,
    )
    raw = json.loads(encode(listed))
    raw["data"]["items"][0]["period"] = "x" * 41
    head = scenarios.recorder.max_notification_id()

    delivered = record(json.dumps(raw).encode())
    delivered.topic = topics.DOCUMENT_LISTS

    await consumer.process(delivered)

    (letter,) = dlq.letters
    assert "at most 40 characters" in letter["body"]["reason"]
    assert scenarios.recorder.max_notification_id() == head
    with pytest.raises(InvalidEvent, match="per_person and periods belong to scenario items"):
        raw["data"]["items"][0] = {"document_type": "loonstrook", "per_person": True}
        decode(topics.DOCUMENT_LISTS, json.dumps(raw).encode())


def test_the_household_api_is_the_advisers_and_scoped_by_office(tmp_path: Path) -> None:
    http: TestClient = service(scenario_main, "scenario", tmp_path)
    path = f"/dossiers/{DOSSIER}/household"

    put = http.put(path, json={"persons": HOUSEHOLD}, headers=adviser_of(OFFICE))
    assert put.status_code == 200, put.text
    answered = [{**person, "id": None} for person in HOUSEHOLD]
    assert put.json() == {"dossier_id": DOSSIER, "persons": answered}
    assert http.get(path, headers=adviser_of(OFFICE)).json()["persons"] == answered
    # Another office sees no household there; an admin or client may not ask.
    assert http.get(path, headers=adviser_of("kantoor-2")).json()["persons"] == []
    assert http.get(path, headers=adviser_of(OFFICE, "admin")).status_code == 403
    # Persons that cannot be told apart: a 422 with the reason.
    twice = {"persons": [HOUSEHOLD[1], HOUSEHOLD[1]]}
    refused = http.put(path, json=twice, headers=adviser_of(OFFICE))
    assert refused.status_code == 422
    assert "give each person of one role its own id" in refused.text


def test_a_document_requested_again_on_expiry_keeps_its_period_and_instructions() -> None:
    check = DossierCheck(tenant=OFFICE, dossier_id=DOSSIER)
    partner = {**MORTGAGE, "person": {"role": "partner"}}
    added = check.request_document(
        uuid4(), partner, "loonstrook", "Loonstrook", True, NOW, period="2025", instructions="Net"
    )
    assert added.document_id is not None
    pdf = {"sha256": "a" * 64, "size": 10, "content_type": "application/pdf", "filename": "l.pdf"}
    check.upload(added.document_id, pdf, "client:k", NOW, valid_for="P1D")

    again = check.expire(
        added.document_id, NOW + timedelta(days=2), rerequest=True, with_action_point=True
    )

    assert again is not None and again.document_id is not None
    renewed = check.document(again.document_id)
    assert (renewed.subject.person, renewed.period, renewed.instructions) == (
        Person("partner"),
        "2025",
        "Net",
    )
