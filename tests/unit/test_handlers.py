"""The Kafka edge of each service, without Kafka.

``translate`` is the one place where a service's stored events become the integration events it
publishes; ``handlers`` turn consumed integration events into commands. Both are plain functions,
so these stories drive them directly: the application on eventsourcing's in-memory store, the
events built with the codec as a producer would build them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import ValidationError

from servicekit.consumer import DeadLetters, PositionStore, Rejected, TrackingConsumer
from servicekit.domain import DomainError
from servicekit.eventstore import TrackedApplication
from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    ConfigureDocumentType,
    CopyDocument,
    DocumentRequest,
    DossierChecks,
    RemoveActionPoint,
    RemoveDocument,
    Upload,
)
from services.dossiercontrole_service.domainmodel import action_point_id_for, document_id_for
from services.portal_projection import kafka as portal_kafka
from services.portal_projection.views import PortalView
from services.scenario_service import kafka as scenario_kafka
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
from services.scenario_service.domainmodel import DocumentList, Subject, request_ids_for
from services.scenario_service.http import ScenarioIn
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import (
    MAX_RECORD_BYTES,
    MAX_SCENARIO_ITEMS_BYTES,
    action_point_rule,
    decode,
    encode,
    new_event,
)
from tests.support import scenario_items_of_size

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
OFFICE = "kantoor-utrecht"
DOSSIER = "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}
DISCHARGE = {"document_type": "finale_kwijting", "title": "Finale kwijting", "action_point": False}
PASSPORT = {
    "sha256": "a" * 64,
    "size": 52_133,
    "content_type": "application/pdf",
    "filename": "paspoort.pdf",
}


class Outbox:
    """What a service would publish: its new stored events, translated, checked on the wire."""

    def __init__(
        self, app: TrackedApplication, topic: str, translate: Callable[[Any], Sequence[Any]]
    ) -> None:
        self.app = app
        self.topic = topic
        self.translate = translate
        self.position = 0

    def stored_events(self, start: int = 0) -> list[Any]:
        notifications = self.app.recorder.select_notifications(
            start, 1000, inclusive_of_start=False
        )
        return [self.app.mapper.to_domain_event(n) for n in notifications]

    def new(self) -> list[c.CloudEvent]:
        """The integration events of everything stored since the last call."""
        published: list[c.CloudEvent] = []
        for stored in self.stored_events(self.position):
            for event in self.translate(stored):
                # Every published event passes the contract its consumers validate.
                assert decode(self.topic, encode(event)) == event
                published.append(event)
        head = self.app.recorder.max_notification_id()
        self.position = head or 0
        return published

    def all(self) -> list[c.CloudEvent]:
        return [e for stored in self.stored_events() for e in self.translate(stored)]


def types(events: Sequence[c.CloudEvent]) -> list[str]:
    return [event.type for event in events]


def platform_event(
    kind: type[c.CloudEvent], data: dict[str, Any], dossier: str | None = DOSSIER
) -> c.CloudEvent:
    """An inbound platform event as the consumer hands it over: encoded, then decoded."""
    event = new_event(kind, data, source="platform/crm", tenant=OFFICE, dossier=dossier)
    return decode(_TOPIC[kind], encode(event))


_TOPIC: dict[type[c.CloudEvent], str] = {
    c.ProductCreated: topics.PRODUCTS,
    c.ApplicationSubmitted: topics.PRODUCTS,
    c.AppointmentScheduled: topics.APPOINTMENTS,
    c.AppointmentRescheduled: topics.APPOINTMENTS,
    c.AppointmentCancelled: topics.APPOINTMENTS,
    c.DocumentListReceived: topics.DOCUMENT_LISTS,
    c.DocumentRequested: topics.SCENARIO,
    c.ActionPointOpened: topics.DOSSIERCONTROLE,
    c.DocumentAdded: topics.DOSSIERCONTROLE,
}


@pytest.fixture
def scenarios() -> Iterator[Scenarios]:
    app = Scenarios(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


@pytest.fixture
def checks() -> Iterator[DossierChecks]:
    app = DossierChecks(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


# --- scenario_service: translate ----------------------------------------------------------------


def start_on_the_mortgage(scenarios: Scenarios, scenario_id: Any, at: datetime) -> list[Any]:
    """The adviser starts the scenario on dossier-1's mortgage, to execute ``at``."""
    runs = scenarios.start_scenarios(
        StartScenarios(
            OFFICE, DOSSIER, Subject.of(MORTGAGE), [scenario_id], "adviseur-1", execute_at=at
        ),
        now=NOW,
    )
    return list(runs)


def test_the_catalogue_is_published_per_office(scenarios: Scenarios) -> None:
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))

    # The admin defines a scenario.
    scenario_id = scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Zelfstandige", "hypotheek", [ID_CARD], {"event": "product_created"}, "admin-1"
        )
    )
    (defined,) = outbox.new()
    assert isinstance(defined, c.ScenarioDefined)
    assert defined.data == c.ScenarioDefinedData(
        scenario_id=scenario_id,
        name="Zelfstandige",
        scope="hypotheek",
        items=(c.RequestedItem(document_type="identiteitsbewijs"),),
        trigger=c.Trigger(event="product_created"),
    )
    # It belongs to the office, not to a dossier.
    assert (defined.tenantid, defined.dossierid) == (OFFICE, None)
    assert defined.source == "actiepunten/scenario_service"

    # They change it, then delete it.
    scenarios.change_scenario(
        ChangeScenario(
            OFFICE, "Zelfstandig", "hypotheek", [DISCHARGE], None, "admin-1", scenario_id
        )
    )
    scenarios.delete_scenario(OFFICE, scenario_id, "admin-1")
    changed, deleted = outbox.new()
    assert isinstance(changed, c.ScenarioChanged)
    assert changed.data.name == "Zelfstandig"
    assert changed.data.trigger is None
    assert changed.data.items[0].action_point is False
    assert isinstance(deleted, c.ScenarioDeleted)
    assert deleted.data.scenario_id == scenario_id
    assert deleted.tenantid == OFFICE


def test_a_run_started_now_publishes_its_schedule_execution_and_document_requests(
    scenarios: Scenarios,
) -> None:
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Zelfstandige", "hypotheek", [ID_CARD, DISCHARGE], None, "admin-1")
    )
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()

    # The adviser starts it now on the mortgage.
    (run,) = start_on_the_mortgage(scenarios, scenario_id, NOW)

    published = outbox.new()
    assert types(published) == [
        "ScenarioScheduled",
        "ScenarioExecuted",
        "DocumentRequested",
        "DocumentRequested",
    ]
    scheduled, executed, id_card, discharge = published
    assert scheduled.data.run_id == run.id
    assert scheduled.data.execute_at == NOW
    assert scheduled.data.started_by == "adviseur-1"
    assert executed.data.request_ids == tuple(request_ids_for(run.id, 2))
    assert executed.data.executed_at == NOW
    assert id_card.data == c.DocumentRequestedData(
        request_id=run.request_ids[0],
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="identiteitsbewijs",
        source="scenario",
        run_id=run.id,
        scenario_id=scenario_id,
        requested_by="adviseur-1",
    )
    assert (discharge.data.title, discharge.data.action_point) == ("Finale kwijting", "never")
    # Every event of the run is keyed on the dossier, so they stay in order.
    assert {e.key for e in published} == {f"{OFFICE}:{DOSSIER}".encode()}
    assert {e.correlationid for e in published} == {str(run.id)}


def test_a_cancelled_run_publishes_its_cancellation(scenarios: Scenarios) -> None:
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Zelfstandige", "hypotheek", [ID_CARD], None, "admin-1")
    )
    (run,) = start_on_the_mortgage(scenarios, scenario_id, NOW + timedelta(days=1))
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()

    scenarios.cancel_run(OFFICE, run.id)

    (cancelled,) = outbox.new()
    assert isinstance(cancelled, c.ScenarioRunCancelled)
    assert cancelled.data == c.ScenarioRunCancelledData(
        run_id=run.id,
        scenario_id=scenario_id,
        dossier_id=DOSSIER,
        reason="cancelled_by_adviser",
    )
    assert cancelled.dossierid == DOSSIER


def test_a_moved_appointment_republishes_the_run_with_its_new_moment(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE,
            "Voor het gesprek",
            APPOINTMENT_SCOPE,
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": -3},
            "admin-1",
        )
    )
    starts_at = NOW + timedelta(days=10)
    appointment = {"type": "appointment", "id": "afspraak-1", "scope": APPOINTMENT_SCOPE}
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()
    (run,) = scenarios.start_triggered(
        StartTriggered(
            OFFICE,
            DOSSIER,
            Subject.of(appointment),
            "appointment_scheduled",
            cause="event-1",
            starts_at=starts_at,
        ),
        now=NOW,
        tracking=Tracking("platform.appointments.v1:0", 1),
    )
    (scheduled,) = outbox.new()  # the Appointment aggregate itself publishes nothing
    assert scheduled.data.execute_at == starts_at - timedelta(days=3)
    assert scheduled.data.started_by == "trigger:appointment_scheduled"

    scenarios.reschedule_appointment(
        OFFICE,
        "afspraak-1",
        starts_at + timedelta(days=1),
        NOW,
        Tracking("platform.appointments.v1:0", 2),
    )

    (moved,) = outbox.new()
    assert isinstance(moved, c.ScenarioScheduled)
    assert moved.data.run_id == run.id
    assert moved.data.execute_at == starts_at - timedelta(days=2)
    assert moved.data.items == scheduled.data.items
    assert moved.id != scheduled.id


def test_manual_requests_and_document_lists_publish_document_requests(
    scenarios: Scenarios,
) -> None:
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))

    # The adviser asks for a payslip by hand, without an action point.
    request_id = scenarios.request_document(
        RequestDocument(
            OFFICE,
            DOSSIER,
            Subject.of(MORTGAGE),
            "loonstrook",
            "Loonstrook maart",
            False,
            "adviseur-1",
        )
    )
    (manual,) = outbox.new()
    assert manual.data == c.DocumentRequestedData(
        request_id=request_id,
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="loonstrook",
        title="Loonstrook maart",
        action_point="never",
        source="manual",
        requested_by="adviseur-1",
    )

    # The lender's document list arrives with two items.
    items = [
        {"document_type": "taxatierapport", "title": None, "action_point": None},
        {"document_type": "koopovereenkomst", "title": "Koopakte", "action_point": None},
    ]
    document_list, _ = scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE,
            DOSSIER,
            Subject.of(MORTGAGE),
            "lender-42",
            items,
            received_from="platform/lender",
        )
    )
    published = outbox.new()
    assert [(e.type, e.data.document_type) for e in published] == [
        ("DocumentRequested", "taxatierapport"),
        ("DocumentRequested", "koopovereenkomst"),
    ]
    assert [e.data.request_id for e in published] == document_list.request_ids
    assert {e.data.source for e in published} == {"document_list"}
    assert {e.data.reference for e in published} == {"lender-42"}
    assert {e.data.requested_by for e in published} == {"platform/lender"}


def test_the_largest_scenario_and_its_runs_fit_in_records_the_codec_accepts(
    scenarios: Scenarios,
) -> None:
    # The largest scenario the API accepts: items at their budget, with one byte more refused.
    items = scenario_items_of_size(MAX_SCENARIO_ITEMS_BYTES)
    ScenarioIn.model_validate({"name": "Alles", "scope": "hypotheek", "items": items})
    with pytest.raises(ValidationError, match="fewer items or shorter titles"):
        ScenarioIn.model_validate(
            {
                "name": "Alles",
                "scope": "hypotheek",
                "items": scenario_items_of_size(MAX_SCENARIO_ITEMS_BYTES + 1),
            }
        )

    # Every other field of the records at its largest too: a 200-character office of 4-byte
    # characters, names and ids of 200 characters of 4 bytes each (control characters, which
    # JSON escapes to 6 bytes, are refused in ids and names), and a token subject as long as
    # the 16 KiB request head the HTTP server accepts allows.
    office = "\U0001f3e2" * 200
    longest = "\U0001f4c4" * 200
    who = "x" * 12 * 1024
    scope = "a" * 64
    subject = {"type": "appointment", "id": longest, "scope": scope}
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    scenario_id = scenarios.define_scenario(
        DefineScenario(office, longest, scope, items, None, who)
    )
    scenarios.change_scenario(ChangeScenario(office, longest, scope, items, None, who, scenario_id))
    for moment in (NOW + timedelta(days=1), NOW):
        scenarios.start_scenarios(
            StartScenarios(
                office, longest, Subject.of(subject), [scenario_id], who, execute_at=moment
            ),
            now=NOW,
        )

    # Each record passes the codec (Outbox.new decodes every one), under its limit.
    published = outbox.new()
    assert set(types(published)) == {
        "ScenarioDefined",
        "ScenarioChanged",
        "ScenarioScheduled",
        "ScenarioExecuted",
        "DocumentRequested",
    }
    largest = max(published, key=lambda event: len(encode(event)))
    assert largest.type == "ScenarioScheduled"
    assert len(encode(largest)) <= MAX_RECORD_BYTES


def test_republishing_the_scenario_log_gives_the_same_event_ids(scenarios: Scenarios) -> None:
    # A busy morning in the scenario service ...
    scenario_id = scenarios.define_scenario(
        DefineScenario(OFFICE, "Zelfstandige", "hypotheek", [ID_CARD, DISCHARGE], None, "admin-1")
    )
    start_on_the_mortgage(scenarios, scenario_id, NOW)
    (later,) = start_on_the_mortgage(scenarios, scenario_id, NOW + timedelta(days=1))
    scenarios.cancel_run(OFFICE, later.id)
    scenarios.receive_document_list(
        ReceiveDocumentList(
            OFFICE, DOSSIER, Subject.of(MORTGAGE), "ref", [ID_CARD], received_from="lender"
        )
    )
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))

    # ... published, then published again after a crash of the relay.
    first, again = outbox.all(), outbox.all()

    assert [e.id for e in first] == [e.id for e in again]
    assert first == again
    assert len({e.id for e in first}) == len(first) == 8


# --- scenario_service: handlers -----------------------------------------------------------------


def test_a_product_created_on_the_platform_starts_the_triggered_scenario(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Nieuwe hypotheek", "hypotheek", [ID_CARD], {"event": "product_created"}, "a"
        )
    )
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["ProductCreated"]
    created = platform_event(c.ProductCreated, {"product_id": "hyp-1", "product_type": "hypotheek"})
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()

    handle(created, Tracking("platform.products.v1:0", 1))

    published = outbox.new()
    assert types(published) == ["ScenarioScheduled", "ScenarioExecuted", "DocumentRequested"]
    assert published[2].data.subject == c.Subject.model_validate(MORTGAGE)
    assert published[2].data.requested_by == "trigger:product_created"
    assert scenarios.max_tracking_id("platform.products.v1:0") == 1


def test_an_application_submitted_starts_only_scenarios_triggered_by_it(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Bij creatie", "hypotheek", [ID_CARD], {"event": "product_created"}, "a"
        )
    )
    scenarios.define_scenario(
        DefineScenario(
            OFFICE,
            "Bij aanvraag",
            "hypotheek",
            [DISCHARGE],
            {"event": "application_submitted"},
            "a",
        )
    )
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["ApplicationSubmitted"]
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()

    handle(
        platform_event(
            c.ApplicationSubmitted, {"product_id": "hyp-1", "product_type": "hypotheek"}
        ),
        Tracking("platform.products.v1:0", 1),
    )

    requested = [e for e in outbox.new() if isinstance(e, c.DocumentRequested)]
    assert [e.data.document_type for e in requested] == ["finale_kwijting"]


def test_appointment_events_schedule_move_and_cancel_the_triggered_run(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE,
            "Voor het gesprek",
            APPOINTMENT_SCOPE,
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": -3},
            "admin-1",
        )
    )
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)
    starts_at = NOW + timedelta(days=10)
    outbox = Outbox(scenarios, topics.SCENARIO, scenario_kafka.OUTBOX.translator(scenarios))
    outbox.new()

    # The client books an appointment in ten days.
    handle["AppointmentScheduled"](
        platform_event(
            c.AppointmentScheduled, {"appointment_id": "afspraak-1", "starts_at": starts_at}
        ),
        Tracking("platform.appointments.v1:0", 1),
    )
    (scheduled,) = outbox.new()
    run_id = scheduled.data.run_id
    assert scheduled.data.subject == c.Subject(
        type="appointment", id="afspraak-1", scope=APPOINTMENT_SCOPE
    )
    assert scenarios.get_run(OFFICE, run_id).execute_at == starts_at - timedelta(days=3)

    # It moves a day later ...
    handle["AppointmentRescheduled"](
        platform_event(
            c.AppointmentRescheduled,
            {"appointment_id": "afspraak-1", "starts_at": starts_at + timedelta(days=1)},
        ),
        Tracking("platform.appointments.v1:0", 2),
    )
    assert scenarios.get_run(OFFICE, run_id).execute_at == starts_at - timedelta(days=2)

    # ... and is then cancelled.
    handle["AppointmentCancelled"](
        platform_event(c.AppointmentCancelled, {"appointment_id": "afspraak-1"}),
        Tracking("platform.appointments.v1:0", 3),
    )
    assert scenarios.get_run(OFFICE, run_id).status == "cancelled"
    assert types(outbox.new()) == ["ScenarioScheduled", "ScenarioRunCancelled"]
    assert scenarios.max_tracking_id("platform.appointments.v1:0") == 3


def test_an_appointment_too_far_ahead_for_its_runs_is_rejected(scenarios: Scenarios) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE,
            "Na het gesprek",
            APPOINTMENT_SCOPE,
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": 2},
            "admin-1",
        )
    )
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)

    def appointment(kind: type[c.CloudEvent], appointment_id: str, starts_at: str) -> c.CloudEvent:
        return platform_event(kind, {"appointment_id": appointment_id, "starts_at": starts_at})

    # The agenda books one at the end of time, and moves another there: dead letters.
    with pytest.raises(DomainError, match="five years"):
        handle["AppointmentScheduled"](
            appointment(c.AppointmentScheduled, "afspraak-1", "9999-12-31T23:00-05:00"),
            Tracking("platform.appointments.v1:0", 1),
        )
    handle["AppointmentScheduled"](
        appointment(c.AppointmentScheduled, "afspraak-2", (NOW + timedelta(days=10)).isoformat()),
        Tracking("platform.appointments.v1:0", 2),
    )
    head = scenarios.recorder.max_notification_id()
    with pytest.raises(DomainError, match="five years"):
        handle["AppointmentRescheduled"](
            appointment(c.AppointmentRescheduled, "afspraak-2", "9999-12-31T23:00-05:00"),
            Tracking("platform.appointments.v1:0", 3),
        )
    assert scenarios.recorder.max_notification_id() == head

    # One at the start of time has passed: its run executes now.
    handle["AppointmentScheduled"](
        appointment(c.AppointmentScheduled, "afspraak-3", "0001-01-01T00:00+05:00"),
        Tracking("platform.appointments.v1:0", 4),
    )
    assert scenarios.max_tracking_id("platform.appointments.v1:0") == 4


def test_a_document_list_from_the_platform_requests_its_documents(scenarios: Scenarios) -> None:
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["DocumentListReceived"]
    received = platform_event(
        c.DocumentListReceived,
        {
            "subject": MORTGAGE,
            "reference": "lender-42",
            "items": [{"document_type": "taxatierapport", "title": "Taxatie"}],
        },
    )

    handle(received, Tracking("platform.documentlists.v1:0", 1))

    document_list: DocumentList = scenarios.repository.get(
        DocumentList.create_id(OFFICE, "lender-42")
    )
    assert document_list.dossier_id == DOSSIER
    assert document_list.received_from == "platform/crm"
    assert document_list.items == [
        {"document_type": "taxatierapport", "title": "Taxatie", "action_point": None}
    ]


def test_another_list_under_a_known_reference_from_the_platform_is_rejected(
    scenarios: Scenarios,
) -> None:
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["DocumentListReceived"]

    def document_list(document_type: str) -> c.CloudEvent:
        data = {
            "subject": MORTGAGE,
            "reference": "lender-42",
            "items": [{"document_type": document_type}],
        }
        return platform_event(c.DocumentListReceived, data)

    handle(document_list("taxatierapport"), Tracking("platform.documentlists.v1:0", 1))
    head = scenarios.recorder.max_notification_id()

    # The same list again is a repeat; another list under its reference is dead-lettered.
    handle(document_list("taxatierapport"), Tracking("platform.documentlists.v1:0", 2))
    with pytest.raises(DomainError, match="lender-42"):
        handle(document_list("koopakte"), Tracking("platform.documentlists.v1:0", 3))
    assert scenarios.recorder.max_notification_id() == head


def test_a_document_list_from_a_source_too_long_to_name_its_requests_is_rejected(
    scenarios: Scenarios,
) -> None:
    # Each requested document names the list's source: a huge one would not fit its record.
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["DocumentListReceived"]
    data = {"subject": MORTGAGE, "reference": "r-1", "items": [{"document_type": "loonstrook"}]}
    event = new_event(
        c.DocumentListReceived,
        data,
        source="platform/" + "x" * 200_000,
        tenant=OFFICE,
        dossier=DOSSIER,
    )

    with pytest.raises(Rejected, match="source"):
        handle(event, Tracking("platform.documentlists.v1:0", 1))
    assert scenarios.recorder.max_notification_id() is None


def test_a_platform_event_without_a_dossier_is_rejected(scenarios: Scenarios) -> None:
    # The consumer dead-letters a ValueError with its message as the reason.
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)["ProductCreated"]
    without_dossier = platform_event(
        c.ProductCreated, {"product_id": "hyp-1", "product_type": "hypotheek"}, dossier=None
    )

    with pytest.raises(ValueError, match="ProductCreated without a dossierid"):
        handle(without_dossier, Tracking("platform.products.v1:0", 1))
    assert scenarios.max_tracking_id("platform.products.v1:0") is None


@pytest.mark.parametrize(
    ("kind", "data", "position_name"),
    [
        (
            c.ProductCreated,
            {"product_id": "hyp-1", "product_type": "hypotheek"},
            "platform.products.v1:0",
        ),
        (
            c.AppointmentScheduled,
            {"appointment_id": "afspraak-1", "starts_at": NOW + timedelta(days=10)},
            "platform.appointments.v1:0",
        ),
        (
            c.DocumentListReceived,
            {"subject": MORTGAGE, "reference": "r-1", "items": [{"document_type": "loonstrook"}]},
            "platform.documentlists.v1:0",
        ),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else "",
)
def test_a_scenario_handler_given_a_recorded_position_changes_nothing(
    scenarios: Scenarios, kind: type[c.CloudEvent], data: dict[str, Any], position_name: str
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Hyp", "hypotheek", [ID_CARD], {"event": "product_created"}, "admin-1"
        )
    )
    scenarios.define_scenario(
        DefineScenario(
            OFFICE,
            "Afspraak",
            APPOINTMENT_SCOPE,
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": -3},
            "admin-1",
        )
    )
    handle = scenario_kafka.handlers(scenarios, now=lambda: NOW)[kind.__name__]
    handle(platform_event(kind, data), Tracking(position_name, 7))
    head = scenarios.recorder.max_notification_id()

    # Another replica processes a record at a position this store recorded already.
    with pytest.raises(IntegrityError):
        handle(platform_event(kind, data), Tracking(position_name, 7))
    with pytest.raises(IntegrityError):
        handle(platform_event(kind, data), Tracking(position_name, 6))

    # Nothing was stored, and the position stays where it was.
    assert scenarios.recorder.max_notification_id() == head
    assert scenarios.max_tracking_id(position_name) == 7


# --- dossiercontrole_service: translate ---------------------------------------------------------


def test_a_requested_document_publishes_the_document_and_its_action_point(
    checks: DossierChecks,
) -> None:
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    request_id = uuid4()

    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW)
    )

    added, opened = outbox.new()
    assert isinstance(added, c.DocumentAdded)
    assert added.data == c.DocumentAddedData(
        document_id=document_id_for(request_id),
        request_id=request_id,
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
    )
    assert isinstance(opened, c.ActionPointOpened)
    assert opened.data == c.ActionPointOpenedData(
        action_point_id=action_point_id_for(request_id),
        document_id=document_id_for(request_id),
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
        opened_at=NOW,
    )
    for event in (added, opened):
        assert (event.tenantid, event.dossierid) == (OFFICE, DOSSIER)
        assert event.source == "actiepunten/dossiercontrole_service"
        assert event.subject == str(document_id_for(request_id))


def test_a_merged_request_publishes_an_action_point_only_when_it_asks_for_one(
    checks: DossierChecks,
) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    (configured,) = outbox.new()
    assert configured.data == c.DocumentTypeConfiguredData(
        code="finale_kwijting", name="Finale kwijting", creates_action_point=False
    )
    assert (configured.tenantid, configured.dossierid) == (OFFICE, None)

    first = uuid4()
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, first, MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    assert types(outbox.new()) == ["DocumentAdded"]

    # A second request by the type's setting: nothing new for anyone.
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, uuid4(), MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    assert outbox.new() == []

    # A third asks for a task: the open document gets it, and the portal hears of it.
    later = uuid4()
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, later, MORTGAGE, "finale_kwijting", None, True, LATER)
    )
    (opened,) = outbox.new()
    assert isinstance(opened, c.ActionPointOpened)
    assert opened.data == c.ActionPointOpenedData(
        action_point_id=action_point_id_for(later),
        document_id=document_id_for(first),
        dossier_id=DOSSIER,
        subject=c.Subject.model_validate(MORTGAGE),
        document_type="finale_kwijting",
        title="Finale kwijting",
        opened_at=LATER,
    )
    assert (opened.tenantid, opened.dossierid) == (OFFICE, DOSSIER)
    assert opened.subject == str(document_id_for(first))


def test_uploads_publish_the_file_and_complete_the_action_point_once(
    checks: DossierChecks,
) -> None:
    on_mortgage, on_life = uuid4(), uuid4()
    life = {"type": "product", "id": "lv-1", "scope": "levensverzekering"}
    for request_id, subject in ((on_mortgage, MORTGAGE), (on_life, life)):
        checks.add_requested_document(
            DocumentRequest(
                OFFICE, DOSSIER, request_id, subject, "identiteitsbewijs", None, None, NOW
            )
        )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    outbox.new()

    # The client uploads the passport for the mortgage.
    later = NOW + timedelta(hours=1)
    checks.upload(Upload(OFFICE, document_id_for(on_mortgage), PASSPORT, "client:klant-1", later))
    uploaded, completed = outbox.new()
    assert uploaded.data == c.DocumentUploadedData(
        document_id=document_id_for(on_mortgage),
        dossier_id=DOSSIER,
        version=1,
        file=c.FileMetadata.model_validate(PASSPORT),
        uploaded_by="client:klant-1",
    )
    assert completed.data == c.ActionPointCompletedData(
        action_point_id=action_point_id_for(on_mortgage),
        document_id=document_id_for(on_mortgage),
        dossier_id=DOSSIER,
        completed_at=later,
    )

    # A second version completes nothing new.
    checks.upload(Upload(OFFICE, document_id_for(on_mortgage), PASSPORT, "client:klant-1", later))
    (second,) = outbox.new()
    assert isinstance(second, c.DocumentUploaded)
    assert second.data.version == 2

    # The adviser copies it to the life insurance's request.
    checks.copy(
        CopyDocument(
            OFFICE, document_id_for(on_life), document_id_for(on_mortgage), "adviser:a-1", later
        )
    )
    copied, copy_completed = outbox.new()
    assert copied.data.copied_from == document_id_for(on_mortgage)
    assert copied.data.file == c.FileMetadata.model_validate(PASSPORT)
    assert copied.data.uploaded_by == "adviser:a-1"
    assert copy_completed.data.action_point_id == action_point_id_for(on_life)


def test_both_removal_paths_are_visible_as_events(checks: DossierChecks) -> None:
    goes, stays = uuid4(), uuid4()
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, goes, MORTGAGE, "finale_kwijting", None, None, NOW)
    )
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, stays, MORTGAGE, "identiteitsbewijs", None, None, NOW)
    )
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    outbox.new()
    later = NOW + timedelta(hours=1)

    # Way 2a: the adviser removes the final discharge from the dossier check.
    checks.remove_document(RemoveDocument(OFFICE, document_id_for(goes), "adviser:a-1", later))
    removed, point_removed = outbox.new()
    assert removed.data == c.DocumentRemovedData(
        document_id=document_id_for(goes), dossier_id=DOSSIER, removed_by="adviser:a-1"
    )
    assert point_removed.data == c.ActionPointRemovedData(
        action_point_id=action_point_id_for(goes),
        document_id=document_id_for(goes),
        dossier_id=DOSSIER,
        reason="document_removed",
        removed_at=later,
    )

    # Way 2b: they remove only the identity document's action point.
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, action_point_id_for(stays), "adviser:a-1", later)
    )
    (only_point,) = outbox.new()
    assert isinstance(only_point, c.ActionPointRemoved)
    assert only_point.data.reason == "removed_by_adviser"
    assert only_point.data.document_id == document_id_for(stays)

    # Removing that document afterwards removes no action point a second time.
    checks.remove_document(RemoveDocument(OFFICE, document_id_for(stays), "adviser:a-1", later))
    assert types(outbox.new()) == ["DocumentRemoved"]


def test_republishing_the_dossier_log_gives_the_same_event_ids(checks: DossierChecks) -> None:
    request_id = uuid4()
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "identiteitsbewijs", "ID-bewijs", True, "admin-1")
    )
    checks.add_requested_document(
        DocumentRequest(OFFICE, DOSSIER, request_id, MORTGAGE, "identiteitsbewijs", None, None, NOW)
    )
    checks.upload(Upload(OFFICE, document_id_for(request_id), PASSPORT, "client:klant-1", NOW))
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))

    first, again = outbox.all(), outbox.all()

    assert first == again
    assert len({e.id for e in first}) == len(first) == 5


# --- dossiercontrole_service: handlers ----------------------------------------------------------


def document_requested(
    request_id: UUID, document_type: str = "identiteitsbewijs", action_point: bool | None = None
) -> c.CloudEvent:
    event = new_event(
        c.DocumentRequested,
        {
            "request_id": request_id,
            "dossier_id": DOSSIER,
            "subject": MORTGAGE,
            "document_type": document_type,
            "action_point": action_point_rule(action_point),
            "source": "scenario",
            "requested_by": "adviseur-1",
        },
        source=scenario_kafka.SOURCE,
        tenant=OFFICE,
        dossier=DOSSIER,
    )
    return decode(topics.SCENARIO, encode(event))


def test_a_document_requested_on_the_scenario_topic_lands_in_the_dossier_check(
    checks: DossierChecks,
) -> None:
    handle = dossiercontrole_kafka.handlers(checks, now=lambda: NOW)["DocumentRequested"]
    request_id = uuid4()

    handle(document_requested(request_id), Tracking("actiepunten.scenario.v1:1", 1))

    (document,) = checks.get_dossier_check(OFFICE, DOSSIER).current_documents()
    assert document.document_id == document_id_for(request_id)
    assert document.action_point is not None and document.action_point.status == "open"
    assert document.created_at == NOW
    assert checks.max_tracking_id("actiepunten.scenario.v1:1") == 1


def test_only_document_requests_are_handled_by_the_dossier_check(checks: DossierChecks) -> None:
    # The other scenario events are skipped by the consumer (their positions still recorded).
    assert set(dossiercontrole_kafka.handlers(checks)) == {"DocumentRequested"}


def test_a_dossier_handler_given_a_recorded_position_changes_nothing(
    checks: DossierChecks,
) -> None:
    handle = dossiercontrole_kafka.handlers(checks, now=lambda: NOW)["DocumentRequested"]
    handle(document_requested(uuid4()), Tracking("actiepunten.scenario.v1:1", 5))
    head = checks.recorder.max_notification_id()

    # A different request arrives under a position that was recorded already.
    with pytest.raises(IntegrityError):
        handle(
            document_requested(uuid4(), "werkgeversverklaring"),
            Tracking("actiepunten.scenario.v1:1", 5),
        )

    assert checks.recorder.max_notification_id() == head
    assert [
        d.document_type for d in checks.get_dossier_check(OFFICE, DOSSIER).documents.values()
    ] == ["identiteitsbewijs"]


# --- portal_projection: handlers ----------------------------------------------------------------


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


# --- the tracking consumer: what becomes of each record -----------------------------------------


class Positions:
    """An in-memory position store, as the application's tracking table would be."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    def max_tracking_id(self, name: str) -> int | None:
        return self.positions.get(name)

    def has_tracked(self, tracking: Tracking) -> bool:
        return self.positions.get(tracking.application_name, 0) >= tracking.notification_id

    def record_tracking(self, tracking: Tracking) -> None:
        self.positions[tracking.application_name] = tracking.notification_id


class FakeDLQ:
    """Records what would be published to the DLQ topic."""

    def __init__(self) -> None:
        self.letters: list[dict[str, Any]] = []

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: dict[str, str]
    ) -> None:
        self.letters.append({"topic": topic, "body": json.loads(value), "headers": headers})


def consumer_with(handlers: dict[str, Any], positions: PositionStore, dlq: Any) -> TrackingConsumer:
    return TrackingConsumer(
        name="actiepunten.scenario",
        bootstrap_servers="unused:9092",  # process() never talks to Kafka
        group_id="test",
        topics=[topics.PRODUCTS],
        handlers=handlers,
        positions=positions,
        dead_letters=DeadLetters(dlq, topics.SCENARIO_DLQ, "actiepunten.scenario"),
    )


def record(value: bytes, offset: int = 41) -> SimpleNamespace:
    return SimpleNamespace(
        topic=topics.PRODUCTS,
        partition=0,
        offset=offset,
        value=value,
        key=f"{OFFICE}:{DOSSIER}".encode(),
        timestamp=1_741_597_200_000,
        headers=(),
    )


async def test_a_product_event_is_handled_once_and_its_position_recorded(
    scenarios: Scenarios,
) -> None:
    scenarios.define_scenario(
        DefineScenario(
            OFFICE, "Hyp", "hypotheek", [ID_CARD], {"event": "product_created"}, "admin-1"
        )
    )
    dlq = FakeDLQ()
    consumer = consumer_with(
        scenario_kafka.handlers(scenarios, now=lambda: NOW),
        scenarios,
        dlq,
    )
    created = new_event(
        c.ProductCreated,
        {"product_id": "hyp-1", "product_type": "hypotheek"},
        source="platform/crm",
        tenant=OFFICE,
        dossier=DOSSIER,
    )

    # Kafka delivers it, then redelivers it after a rebalance.
    await consumer.process(record(encode(created)))
    head = scenarios.recorder.max_notification_id()
    await consumer.process(record(encode(created)))

    assert scenarios.max_tracking_id("platform.products.v1:0") == 42
    assert scenarios.recorder.max_notification_id() == head
    assert dlq.letters == []


async def test_a_record_that_is_not_an_event_goes_to_the_dlq_and_the_consumer_moves_on() -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)

    await consumer.process(record(b"\x00garbage"))

    (letter,) = dlq.letters
    assert letter["topic"] == topics.SCENARIO_DLQ
    assert letter["body"]["reason"].startswith("not JSON:")
    assert letter["body"]["origin"] == {
        "topic": topics.PRODUCTS,
        "partition": 0,
        "offset": 41,
        "timestamp": 1_741_597_200_000,
        "key": f"{OFFICE}:{DOSSIER}",
        "retry_of": None,
    }
    assert positions.max_tracking_id("platform.products.v1:0") == 42


async def test_an_unknown_event_type_is_skipped_without_a_dead_letter() -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)
    event = json.loads(
        encode(
            new_event(
                c.ProductCreated,
                {"product_id": "hyp-1", "product_type": "hypotheek"},
                source="platform/crm",
                tenant=OFFICE,
                dossier=DOSSIER,
            )
        )
    )
    event["type"] = "ProductArchived"

    await consumer.process(record(json.dumps(event).encode()))

    assert dlq.letters == []
    assert positions.max_tracking_id("platform.products.v1:0") == 42


@pytest.mark.parametrize(
    ("poison", "reason"),
    [
        (b"[" * 5000 + b"]" * 5000, "not JSON: nested too deeply"),
        (b'{"dataversion": 1' + b"0" * 5000 + b"}", "not JSON: Exceeds the limit (4300 digits)"),
    ],
    ids=["nested-too-deeply", "5000-digit-number"],
)
async def test_a_poison_record_goes_to_the_dlq_instead_of_crashing_the_consumer(
    poison: bytes, reason: str
) -> None:
    positions, dlq = Positions(), FakeDLQ()
    consumer = consumer_with({}, positions, dlq)

    # A few kilobytes the codec refuses as not an event ...
    await consumer.process(record(poison))

    # ... are dead-lettered with that reason, and the partition moves on.
    (letter,) = dlq.letters
    assert letter["body"]["reason"].startswith(reason)
    assert positions.max_tracking_id("platform.products.v1:0") == 42


def test_every_stored_event_of_the_scenario_service_is_mapped_or_silent_on_purpose() -> None:
    from services.scenario_service.domainmodel import (
        Appointment,
        DocumentList,
        DocumentRequest,
        ScenarioCatalogue,
        ScenarioRun,
    )

    aggregates = (ScenarioCatalogue, ScenarioRun, DocumentRequest, DocumentList, Appointment)
    assert scenario_kafka.OUTBOX.unmapped(*aggregates) == []


def test_every_stored_event_of_the_dossier_check_is_mapped_or_silent_on_purpose() -> None:
    from services.dossiercontrole_service.domainmodel import (
        DocumentTypes,
        DossierCheck,
        Locator,
        PortalSettings,
        ReminderSchedule,
    )

    aggregates = (DossierCheck, DocumentTypes, Locator, PortalSettings, ReminderSchedule)
    assert dossiercontrole_kafka.OUTBOX.unmapped(*aggregates) == []
