"""Two offices never share an aggregate (no broker).

Aggregate ids are ``uuid5`` of names such as ``dossier:<tenant>:<dossier_id>``. Office ``acme``
with dossier ``eu:d1`` and office ``acme:eu`` with dossier ``d1`` would name the same dossier
check, so an office id may not contain ``:`` (the token and the CloudEvents envelope refuse
it): the tenant then ends at its first ``:`` and every name stays one aggregate's. The ids of
aggregates stored before stay what they were.

Should two offices' ids ever meet anyway (records stored before the rule), each application
checks the office (and dossier) of what it loaded: another office's aggregate is not there for
the caller, and nothing is written into it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest
from fastapi.testclient import TestClient

from servicekit.auth import issue_token
from servicekit.dossier_keys import MemoryKeySource
from servicekit.eventstore import AggregateOfAnotherOffice
from servicekit.settings import Settings
from services.dossiercontrole_service import main as dossiercontrole_main
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ConfigureDocumentType,
    DossierChecks,
)
from services.dossiercontrole_service.domainmodel import DocumentTypes, DossierCheck
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service import main as scenario_main
from services.scenario_service.application import (
    APPOINTMENT_SCOPE,
    DefineScenario,
    ReceiveDocumentList,
    Scenarios,
    StartScenarios,
    StartTriggered,
)
from services.scenario_service.domainmodel import (
    Appointment,
    DocumentList,
    ScenarioCatalogue,
    Subject,
    triggered_run_id,
)
from shared.events import contracts as c
from shared.events.codec import encode, new_event
from tests.unit.kafka_edge import FakeDLQ, consumer_with, record

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}
DOSSIERCONTROLE = uuid5(NAMESPACE_URL, "urn:actiepunten:dossiercontrole")
SCENARIO = uuid5(NAMESPACE_URL, "urn:actiepunten:scenario")


# --- the ids ----------------------------------------------------------------------------------


def test_the_colliding_pairs_never_name_one_dossier_check() -> None:
    # Office acme's dossier "eu:d1" keeps the id it always had ...
    assert DossierCheck.create_id("acme", "eu:d1") == uuid5(DOSSIERCONTROLE, "dossier:acme:eu:d1")
    # ... and office "acme:eu" (dossier d1) cannot be named at all.
    with pytest.raises(ValueError, match="office id"):
        DossierCheck.create_id("acme:eu", "d1")


@pytest.mark.parametrize(
    ("make_id", "first", "second", "stored_name"),
    [
        (
            DocumentList.create_id,
            ("acme", "eu:lijst-1"),
            ("acme:eu", "lijst-1"),
            "document-list:acme:eu:lijst-1",
        ),
        (
            Appointment.create_id,
            ("acme", "eu:afspraak-1"),
            ("acme:eu", "afspraak-1"),
            "appointment:acme:eu:afspraak-1",
        ),
        (ScenarioCatalogue.create_id, ("acme",), ("acme:eu",), "catalogue:acme"),
    ],
    ids=["document list", "appointment", "catalogue"],
)
def test_the_scenario_services_ids_keep_offices_apart(
    make_id: Any, first: tuple[str, ...], second: tuple[str, ...], stored_name: str
) -> None:
    assert make_id(*first) == uuid5(SCENARIO, stored_name)
    with pytest.raises(ValueError, match="office id"):
        make_id(*second)


def test_document_type_settings_belong_to_an_office_without_a_colon() -> None:
    assert DocumentTypes.create_id("acme") == uuid5(DOSSIERCONTROLE, "document-types:acme")
    with pytest.raises(ValueError, match="office id"):
        DocumentTypes.create_id("acme:eu")


def test_a_run_started_by_a_platform_event_is_one_offices_run() -> None:
    scenario_id = uuid4()

    def product(product_id: str) -> Subject:
        return Subject.of({"type": "product", "id": product_id, "scope": "hypotheek"})

    # The parts are kept apart as a JSON list: no separator to run together.
    assert triggered_run_id(
        scenario_id, "acme", "product_created", product("eu:p1")
    ) != triggered_run_id(scenario_id, "acme:eu", "product_created", product("p1"))


# --- records stored before the rule: the application checks what it loaded ------------------


@pytest.fixture
def names_before_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """Aggregates named as before an office id could not contain ':' (any office accepted)."""

    def named(namespace: UUID, kind: str, *fields: str) -> Any:
        def create_id(*args: str, **kwargs: Any) -> UUID:
            parts = [*args, *(kwargs[name] for name in fields[len(args) :])]
            return uuid5(namespace, ":".join((kind, *parts)))

        return staticmethod(create_id)

    monkeypatch.setattr(
        DossierCheck, "create_id", named(DOSSIERCONTROLE, "dossier", "tenant", "dossier_id")
    )
    monkeypatch.setattr(
        DocumentTypes, "create_id", named(DOSSIERCONTROLE, "document-types", "tenant")
    )
    monkeypatch.setattr(ScenarioCatalogue, "create_id", named(SCENARIO, "catalogue", "tenant"))
    monkeypatch.setattr(
        DocumentList, "create_id", named(SCENARIO, "document-list", "tenant", "reference")
    )
    monkeypatch.setattr(
        Appointment, "create_id", named(SCENARIO, "appointment", "tenant", "appointment_id")
    )


before_the_rule = pytest.mark.usefixtures("names_before_the_rule")


@before_the_rule
def test_a_dossier_check_of_another_office_under_the_same_id_is_not_there(
    checks: DossierChecks,
) -> None:
    # Office acme's client has a document requested in dossier "eu:d1".
    checks.add_requested_document(
        AddRequestedDocument(
            "acme", "eu:d1", uuid4(), MORTGAGE, "identiteitsbewijs", None, None, NOW
        )
    )

    # Office "acme:eu" reads its dossier d1: the same id, not its dossier check.
    with pytest.raises(AggregateOfAnotherOffice):
        checks.get_dossier_check("acme:eu", "d1")
    # A request for its dossier d1 is refused rather than written into acme's dossier check.
    with pytest.raises(AggregateOfAnotherOffice):
        checks.add_requested_document(
            AddRequestedDocument("acme:eu", "d1", uuid4(), MORTGAGE, "loonstrook", None, None, NOW)
        )
    # Within one office too, a dossier check loaded for another dossier is refused.
    with pytest.raises(AggregateOfAnotherOffice):
        checks.get_owned(DossierCheck.create_id("acme", "eu:d1"), tenant="acme", dossier_id="eu:d2")
    [only] = checks.get_dossier_check("acme", "eu:d1").current_documents()
    assert only.document_type == "identiteitsbewijs"


@before_the_rule
def test_document_type_settings_of_another_office_under_the_same_id_are_not_there(
    checks: DossierChecks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two offices whose settings share one id (as a uuid5 collision would make them).
    shared_id = DocumentTypes.create_id("acme")
    monkeypatch.setattr(DocumentTypes, "create_id", staticmethod(lambda *_, **__: shared_id))
    checks.configure_document_type(
        ConfigureDocumentType("acme", "finale_kwijting", "Finale kwijting", False, "admin-1")
    )

    with pytest.raises(AggregateOfAnotherOffice):
        checks.get_document_types("kantoor-2")
    with pytest.raises(AggregateOfAnotherOffice):
        checks.configure_document_type(
            ConfigureDocumentType("kantoor-2", "loonstrook", "Loonstrook", True, "admin-2")
        )
    # A request in the other office does not read acme's settings either.
    with pytest.raises(AggregateOfAnotherOffice):
        checks.add_requested_document(
            AddRequestedDocument(
                "kantoor-2", "d1", uuid4(), MORTGAGE, "finale_kwijting", None, None, NOW
            )
        )
    assert [t.code for t in checks.get_document_types("acme")] == ["finale_kwijting"]


@before_the_rule
def test_a_catalogue_of_another_office_under_the_same_id_is_not_there(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_id = ScenarioCatalogue.create_id("acme")
    monkeypatch.setattr(ScenarioCatalogue, "create_id", staticmethod(lambda *_, **__: shared_id))
    scenario_id = scenarios.define_scenario(
        DefineScenario("acme", "Zelfstandige", "hypotheek", [ID_CARD], None, "admin-1")
    )

    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.get_scenarios("kantoor-2")
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.get_scenario("kantoor-2", scenario_id)
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.delete_scenario("kantoor-2", scenario_id, by="admin-2")
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.start_scenarios(
            StartScenarios(
                "kantoor-2", "d1", Subject.of(MORTGAGE), [scenario_id], "adviseur-2", execute_at=NOW
            ),
            now=NOW,
        )
    assert [s["scenario_id"] for s in scenarios.get_scenarios("acme")] == [str(scenario_id)]


@before_the_rule
def test_a_document_list_of_another_office_under_the_same_id_is_refused(
    scenarios: Scenarios,
) -> None:
    items = [{"document_type": "taxatierapport", "title": None, "action_point": None}]
    scenarios.receive_document_list(
        ReceiveDocumentList(
            "acme", "eu:d1", Subject.of(MORTGAGE), "eu:lijst-1", items, received_from="lender"
        )
    )

    # "acme:eu" sends its list "lijst-1": not answered with acme's list and its request ids.
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.receive_document_list(
            ReceiveDocumentList(
                "acme:eu", "d1", Subject.of(MORTGAGE), "lijst-1", items, received_from="lender"
            )
        )


@before_the_rule
def test_an_appointment_of_another_office_under_the_same_id_is_left_alone(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            "acme",
            "Voor het gesprek",
            APPOINTMENT_SCOPE,
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": -3},
            "admin-1",
        )
    )
    subject = {"type": "appointment", "id": "eu:afspraak-1", "scope": APPOINTMENT_SCOPE}
    starts_at = NOW + timedelta(days=10)
    [run] = scenarios.start_triggered(
        StartTriggered(
            "acme",
            "eu:d1",
            Subject.of(subject),
            "appointment_scheduled",
            cause=str(uuid4()),
            starts_at=starts_at,
        ),
        now=NOW,
        tracking=None,
    )

    # "acme:eu" moves or cancels its appointment "afspraak-1": acme's run stays as it was.
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.reschedule_appointment(
            "acme:eu", "afspraak-1", starts_at + timedelta(days=1), NOW, None
        )
    with pytest.raises(AggregateOfAnotherOffice):
        scenarios.cancel_appointment("acme:eu", "afspraak-1", None)
    assert scenarios.get_run("acme", run.id).status == "scheduled"
    assert scenarios.get_run("acme", run.id).execute_at == starts_at - timedelta(days=3)


# --- what a caller sees: 404 on HTTP, a dead letter on Kafka --------------------------------


SECRET = "a-test-secret-of-at-least-thirty-two-bytes!"


def service(main: Any, name: str, data_dir: Path) -> TestClient:
    """A service's HTTP app on its own store; the lifespan (Kafka) is not started."""
    settings = Settings(
        service=name, data_dir=data_dir, kafka_bootstrap_servers="unused:9092", jwt_secret=SECRET
    )
    if name == "scenario":  # the dossier check's data keys: kept in memory here
        return TestClient(main.create_app(settings, key_source=MemoryKeySource()))
    return TestClient(main.create_app(settings))


def adviser_of(tenant: str, role: str = "adviser") -> dict[str, str]:
    token = issue_token(SECRET, sub=f"{role}-1", tenant=tenant, role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def test_another_offices_dossier_check_under_the_callers_id_answers_404(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two offices' dossiers that share one id (as a uuid5 collision would make them).
    shared_id = uuid5(DOSSIERCONTROLE, "dossier:acme:d1")
    monkeypatch.setattr(DossierCheck, "create_id", staticmethod(lambda *_, **__: shared_id))
    http = service(dossiercontrole_main, "dossiercontrole", tmp_path)
    checks: DossierChecks = http.app.state.application  # type: ignore[attr-defined]
    try:
        checks.add_requested_document(
            AddRequestedDocument(
                "acme", "d1", uuid4(), MORTGAGE, "identiteitsbewijs", None, None, NOW
            )
        )

        for path in ("/dossiers/d1/documents", "/dossiers/d1/action-points"):
            response = http.get(path, headers=adviser_of("kantoor-2"))
            assert response.status_code == 404, (path, response.text)
            assert response.json() == {"detail": "not found"}
        assert (
            len(http.get("/dossiers/d1/documents", headers=adviser_of("acme")).json()["documents"])
            == 1
        )
    finally:
        checks.close()


def test_another_offices_catalogue_under_the_callers_id_answers_404(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_id = uuid5(SCENARIO, "catalogue:acme")
    monkeypatch.setattr(ScenarioCatalogue, "create_id", staticmethod(lambda *_, **__: shared_id))
    http = service(scenario_main, "scenario", tmp_path)
    scenarios: Scenarios = http.app.state.application  # type: ignore[attr-defined]
    try:
        scenarios.define_scenario(
            DefineScenario("acme", "Zelfstandige", "hypotheek", [ID_CARD], None, "admin-1")
        )

        response = http.get("/scenarios", headers=adviser_of("kantoor-2"))
        assert response.status_code == 404, response.text
        assert [
            s["name"]
            for s in http.get("/scenarios", headers=adviser_of("acme")).json()["scenarios"]
        ] == ["Zelfstandige"]
    finally:
        scenarios.close()


def replace_key(kafka_record: Any, key: bytes) -> Any:
    kafka_record.key = key
    return kafka_record


async def test_a_platform_event_meeting_another_offices_catalogue_is_dead_lettered(
    scenarios: Scenarios, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_id = uuid5(SCENARIO, "catalogue:acme")
    monkeypatch.setattr(ScenarioCatalogue, "create_id", staticmethod(lambda *_, **__: shared_id))
    scenarios.define_scenario(
        DefineScenario(
            "acme", "Hyp", "hypotheek", [ID_CARD], {"event": "product_created"}, "admin-1"
        )
    )
    dlq = FakeDLQ()
    consumer = consumer_with(scenario_kafka.handlers(scenarios, now=lambda: NOW), scenarios, dlq)
    created = new_event(
        c.ProductCreated,
        {"product_id": "hyp-1", "product_type": "hypotheek"},
        source="platform/crm",
        tenant="kantoor-2",
        dossier="d1",
    )
    head = scenarios.recorder.max_notification_id()

    await consumer.process(replace_key(record(encode(created)), b"kantoor-2:d1"))

    # Office kantoor-2's product starts none of acme's scenarios: the record is dead-lettered.
    (letter,) = dlq.letters
    reason = letter["body"]["reason"]
    assert reason.startswith("rejected ProductCreated: ")
    assert "ScenarioCatalogue" in reason and "not of this office's tenant 'kantoor-2'" in reason
    assert scenarios.recorder.max_notification_id() == head
    assert scenarios.max_tracking_id("platform.products.v1:0") == 42
