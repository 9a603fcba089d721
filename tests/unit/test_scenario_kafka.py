"""What the scenario service publishes of what it stores, and what its platform handlers start."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from pydantic import ValidationError

from servicekit.consumer import Rejected
from servicekit.domain import DomainError
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
    decode,
    encode,
    new_event,
)
from tests.support import scenario_items_of_size
from tests.unit.kafka_edge import DISCHARGE, DOSSIER, ID_CARD, MORTGAGE, NOW, OFFICE, Outbox, types


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


def test_every_stored_event_of_the_scenario_service_is_mapped_or_silent_on_purpose() -> None:
    from services.scenario_service.domainmodel import (
        Appointment,
        DocumentList,
        DocumentRequest,
        Household,
        ScenarioCatalogue,
        ScenarioRun,
    )

    aggregates = (
        ScenarioCatalogue,
        ScenarioRun,
        DocumentRequest,
        DocumentList,
        Appointment,
        Household,
    )
    assert scenario_kafka.OUTBOX.unmapped(*aggregates) == []


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
