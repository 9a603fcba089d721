"""The integration-event contracts: what other services can rely on when they read our topics.

Every event of every topic survives a trip through the codec unchanged, and a record that is not
an event we know says, in the reason a DLQ record carries, what is wrong with it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import (
    KNOWN_TYPES,
    MAX_RECORD_BYTES,
    InvalidEvent,
    NotAnEvent,
    UnknownEventType,
    decode,
    encode,
    new_event,
)

AMSTERDAM = timezone(timedelta(hours=1))
MOMENT = datetime(2025, 3, 10, 9, 30, 15, 123456, tzinfo=UTC)
RUN_ID = UUID("0b0e6b1a-0000-4000-8000-000000000001")
SCENARIO_ID = UUID("0b0e6b1a-0000-4000-8000-000000000002")
DOCUMENT_ID = UUID("0b0e6b1a-0000-4000-8000-000000000003")
ACTION_POINT_ID = UUID("0b0e6b1a-0000-4000-8000-000000000004")
REQUEST_ID = UUID("0b0e6b1a-0000-4000-8000-000000000005")
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
ITEMS = [
    {"document_type": "identiteitsbewijs"},
    {"document_type": "werkgeversverklaring", "title": "Werkgeversverklaring 2025"},
    {"document_type": "finale_kwijting", "action_point": False},
]
PDF = {
    "sha256": "a" * 64,
    "size": 1234,
    "content_type": "application/pdf",
    "filename": "paspoort.pdf",
}

# One realistic ``data`` per event type, the fullest shape each contract allows.
DATA: dict[type[c.CloudEvent], dict[str, Any]] = {
    c.ScenarioDefined: {
        "scenario_id": SCENARIO_ID,
        "name": "Zelfstandige",
        "scope": "hypotheek",
        "items": ITEMS,
        "trigger": {"event": "product_created"},
    },
    c.ScenarioChanged: {
        "scenario_id": SCENARIO_ID,
        "name": "Zelfstandige (2025)",
        "scope": "afspraak",
        "items": ITEMS[:1],
        "trigger": {"event": "appointment_scheduled", "offset_days": -3},
    },
    c.ScenarioDeleted: {"scenario_id": SCENARIO_ID},
    c.ScenarioScheduled: {
        "run_id": RUN_ID,
        "scenario_id": SCENARIO_ID,
        "scenario_name": "Zelfstandige",
        "dossier_id": "dossier-1",
        "subject": MORTGAGE,
        "execute_at": datetime(2025, 3, 12, 8, 0, tzinfo=AMSTERDAM),
        "items": ITEMS,
        "started_by": "adviseur-1",
    },
    c.ScenarioRunCancelled: {
        "run_id": RUN_ID,
        "scenario_id": SCENARIO_ID,
        "dossier_id": "dossier-1",
        "reason": "appointment_cancelled",
    },
    c.ScenarioExecuted: {
        "run_id": RUN_ID,
        "scenario_id": SCENARIO_ID,
        "dossier_id": "dossier-1",
        "subject": MORTGAGE,
        "executed_at": MOMENT,
        "request_ids": [REQUEST_ID, uuid4()],
    },
    c.DocumentRequested: {
        "request_id": REQUEST_ID,
        "dossier_id": "dossier-1",
        "subject": MORTGAGE,
        "document_type": "identiteitsbewijs",
        "title": "Paspoort of ID-kaart",
        "action_point": "always",
        "source": "scenario",
        "run_id": RUN_ID,
        "scenario_id": SCENARIO_ID,
        "reference": "lender-42",
        "requested_by": "adviseur-1",
    },
    c.DocumentTypeConfigured: {
        "code": "finale_kwijting",
        "name": "Finale kwijting",
        "creates_action_point": False,
    },
    c.DocumentAdded: {
        "document_id": DOCUMENT_ID,
        "request_id": REQUEST_ID,
        "dossier_id": "dossier-1",
        "subject": MORTGAGE,
        "document_type": "identiteitsbewijs",
        "title": "Identiteitsbewijs",
    },
    c.ActionPointOpened: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "subject": MORTGAGE,
        "document_type": "identiteitsbewijs",
        "title": "Identiteitsbewijs",
        "opened_at": MOMENT,
    },
    c.DocumentUploaded: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "version": 2,
        "file": PDF,
        "uploaded_by": "klant-1",
        "copied_from": uuid4(),
    },
    c.ActionPointCompleted: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "completed_at": MOMENT,
    },
    c.DocumentRemoved: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "removed_by": "adviseur-1",
    },
    c.ActionPointRemoved: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "reason": "removed_by_adviser",
        "removed_at": MOMENT,
    },
    # SPEC section 6: the document cycle.
    c.DocumentApproved: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "version": 1,
        "approved_by": "adviseur-1",
        "approved_at": MOMENT,
    },
    c.DocumentRejected: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "version": 1,
        "reason": "De achterkant van het ID ontbreekt",
        "rejected_by": "adviseur-1",
        "rejected_at": MOMENT,
    },
    c.ActionPointReopened: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "reason": "De achterkant van het ID ontbreekt",
        "reopened_at": MOMENT,
        "due_at": datetime(2025, 3, 24, 23, 59, 59, tzinfo=AMSTERDAM),
    },
    c.ActionPointOverdue: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "due_at": MOMENT,
    },
    c.ActionPointReminderDue: {
        "action_point_id": ACTION_POINT_ID,
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "document_type": "identiteitsbewijs",
        "title": "Identiteitsbewijs",
        "due_at": MOMENT,
        "reminder_number": 2,
        "portal_path": "/app/dossiers/dossier-1",
        "open_items": [
            {
                "action_point_id": ACTION_POINT_ID,
                "document_type": "identiteitsbewijs",
                "title": "Identiteitsbewijs",
                "due_at": MOMENT,
            }
        ],
    },
    c.DocumentExpired: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "valid_until": MOMENT,
        "rerequested_document_id": uuid4(),
    },
    c.NotApplicableClaimed: {
        "document_id": DOCUMENT_ID,
        "action_point_id": uuid4(),
        "dossier_id": "dossier-1",
        "note": "Nooit getrouwd geweest, dus geen echtscheidingsconvenant",
        "claimed_by": "client:klant-1",
        "claimed_at": MOMENT,
    },
    c.DocumentWaived: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "waived_by": "adviser:a-1",
        "waived_at": MOMENT,
    },
    c.NotApplicableRefused: {
        "document_id": DOCUMENT_ID,
        "dossier_id": "dossier-1",
        "reason": "U was wel getrouwd: lever het convenant aan",
        "refused_by": "adviser:a-1",
        "refused_at": MOMENT,
    },
    c.PortalSettingsChanged: {"progress_counts": "approved"},
    c.DossierClosed: {
        "dossier_id": "dossier-1",
        "outcome": "withdrawn",
        "closed_by": "adviser:a1",
        "closed_at": MOMENT,
    },
    c.DossierReopened: {
        "dossier_id": "dossier-1",
        "reopened_by": "adviser:a1",
        "reopened_at": MOMENT,
        "restored_action_point_ids": [uuid4()],
    },
    c.DossierErased: {
        "dossier_id": "dossier-1",
        "erased_by": "retention-policy",
        "erased_at": MOMENT,
    },
    c.ProductCreated: {"product_id": "hyp-1", "product_type": "hypotheek"},
    c.ApplicationSubmitted: {"product_id": "lv-7", "product_type": "levensverzekering"},
    c.AppointmentScheduled: {
        "appointment_id": "afspraak-1",
        "starts_at": datetime(2025, 3, 20, 14, 0, tzinfo=AMSTERDAM),
    },
    c.AppointmentRescheduled: {
        "appointment_id": "afspraak-1",
        "starts_at": datetime(2025, 3, 21, 10, 0, tzinfo=AMSTERDAM),
    },
    c.AppointmentCancelled: {"appointment_id": "afspraak-1"},
    c.DocumentListReceived: {
        "subject": MORTGAGE,
        "reference": "lender-42",
        "items": [{"document_type": "taxatierapport", "title": "Taxatierapport"}],
    },
    c.ClientContactChanged: {
        "dossier_id": "dossier-1",
        "client_id": "klant-1",
        "email": "jan@example.nl",
        "name": "Jan de Vries",
        "salutation": "formal",
    },
    c.NotificationSent: {
        "notification_id": SCENARIO_ID,
        "dossier_id": "dossier-1",
        "client_id": "klant-1",
        "kind": "new_action_points",
        "action_point_ids": [SCENARIO_ID],
        "message_id": f"<{SCENARIO_ID}@actiepunten>",
    },
    c.NotificationFailed: {
        "notification_id": SCENARIO_ID,
        "dossier_id": "dossier-1",
        "client_id": None,
        "kind": "reminder",
        "action_point_ids": [SCENARIO_ID],
        "reason": "no_contact",
    },
}

TOPIC_OF: dict[type[c.CloudEvent], str] = {
    c.ScenarioDefined: topics.SCENARIO,
    c.ScenarioChanged: topics.SCENARIO,
    c.ScenarioDeleted: topics.SCENARIO,
    c.ScenarioScheduled: topics.SCENARIO,
    c.ScenarioRunCancelled: topics.SCENARIO,
    c.ScenarioExecuted: topics.SCENARIO,
    c.DocumentRequested: topics.SCENARIO,
    c.DocumentTypeConfigured: topics.DOSSIERCONTROLE,
    c.DocumentAdded: topics.DOSSIERCONTROLE,
    c.ActionPointOpened: topics.DOSSIERCONTROLE,
    c.DocumentUploaded: topics.DOSSIERCONTROLE,
    c.ActionPointCompleted: topics.DOSSIERCONTROLE,
    c.DocumentRemoved: topics.DOSSIERCONTROLE,
    c.ActionPointRemoved: topics.DOSSIERCONTROLE,
    c.DocumentApproved: topics.DOSSIERCONTROLE,
    c.DocumentRejected: topics.DOSSIERCONTROLE,
    c.ActionPointReopened: topics.DOSSIERCONTROLE,
    c.ActionPointOverdue: topics.DOSSIERCONTROLE,
    c.ActionPointReminderDue: topics.DOSSIERCONTROLE,
    c.DocumentExpired: topics.DOSSIERCONTROLE,
    c.NotApplicableClaimed: topics.DOSSIERCONTROLE,
    c.DocumentWaived: topics.DOSSIERCONTROLE,
    c.NotApplicableRefused: topics.DOSSIERCONTROLE,
    c.PortalSettingsChanged: topics.DOSSIERCONTROLE,
    c.DossierClosed: topics.DOSSIERCONTROLE,
    c.DossierReopened: topics.DOSSIERCONTROLE,
    c.DossierErased: topics.DOSSIERCONTROLE,
    c.ProductCreated: topics.PRODUCTS,
    c.ApplicationSubmitted: topics.PRODUCTS,
    c.AppointmentScheduled: topics.APPOINTMENTS,
    c.AppointmentRescheduled: topics.APPOINTMENTS,
    c.AppointmentCancelled: topics.APPOINTMENTS,
    c.DocumentListReceived: topics.DOCUMENT_LISTS,
    c.ClientContactChanged: topics.CLIENTS,
    c.NotificationSent: topics.NOTIFICATIONS,
    c.NotificationFailed: topics.NOTIFICATIONS,
}


def event_of(kind: type[c.CloudEvent], **overrides: Any) -> c.CloudEvent:
    return new_event(
        kind,
        DATA[kind],
        source="actiepunten/test",
        tenant="kantoor-utrecht",
        dossier="dossier-1",
        subject="hyp-1",
        time=MOMENT,
        correlation_id="corr-1",
        causation_id="cause-1",
        **overrides,
    )


def product_created_record(**changes: Any) -> dict[str, Any]:
    """A valid ProductCreated record as JSON, for tests that spoil one field of it."""
    record: dict[str, Any] = json.loads(encode(event_of(c.ProductCreated)))
    record.update(changes)
    return record


def as_bytes(document: Any) -> bytes:
    return json.dumps(document).encode()


# --- every event survives the wire ------------------------------------------------------------


def test_each_topic_knows_exactly_the_events_of_spec_section_3() -> None:
    # TOPIC_OF above is SPEC section 3's table; the codec must know the same events per topic.
    assert set(KNOWN_TYPES) == set(TOPIC_OF.values())
    assert set(TOPIC_OF) == set(DATA)
    for topic, known in KNOWN_TYPES.items():
        assert {k.model_fields["type"].default for k, t in TOPIC_OF.items() if t == topic} == known


@pytest.mark.parametrize("kind", list(DATA), ids=lambda kind: kind.__name__)
def test_an_event_read_back_from_its_topic_equals_the_event_written(
    kind: type[c.CloudEvent],
) -> None:
    # A service publishes the event on its topic ...
    written = event_of(kind)
    # ... and a consumer of that topic reads back the same event, of the same class.
    read = decode(TOPIC_OF[kind], encode(written))
    assert type(read) is kind
    assert read == written
    assert read.type == kind.__name__


def test_the_wire_format_is_cloudevents_structured_json() -> None:
    # A consumer in another language sees plain CloudEvents 1.0 attributes and our extensions.
    record = json.loads(encode(event_of(c.DocumentAdded)))
    assert record["specversion"] == "1.0"
    assert record["type"] == "DocumentAdded"
    assert record["datacontenttype"] == "application/json"
    assert record["tenantid"] == "kantoor-utrecht"
    assert record["dossierid"] == "dossier-1"
    assert record["dataversion"] == 1
    assert record["time"] == "2025-03-10T09:30:15.123456Z"
    assert record["data"]["document_id"] == str(DOCUMENT_ID)


def test_optional_fields_left_out_come_back_as_absent() -> None:
    # A manual request names no title, action point, run or scenario ...
    manual = new_event(
        c.DocumentRequested,
        {
            "request_id": REQUEST_ID,
            "dossier_id": "dossier-1",
            "subject": MORTGAGE,
            "document_type": "identiteitsbewijs",
            "source": "manual",
            "requested_by": "adviseur-1",
        },
        source="actiepunten/scenario_service",
        tenant="kantoor-utrecht",
        dossier="dossier-1",
    )
    # ... and the consumer reads "not given", so the document type's setting decides.
    read = decode(topics.SCENARIO, encode(manual))
    assert read == manual
    assert read.data.action_point == "by_document_type"
    assert read.data.title is None


def test_the_record_key_keeps_one_dossier_of_one_office_together() -> None:
    assert event_of(c.ActionPointOpened).key == b"kantoor-utrecht:dossier-1"
    # Catalogue events belong to the office, not to a dossier.
    catalogue = new_event(
        c.ScenarioDeleted, DATA[c.ScenarioDeleted], source="s", tenant="kantoor-utrecht"
    )
    assert catalogue.key == b"kantoor-utrecht:"


@pytest.mark.parametrize(
    "tenant", ["acme:eu", " ", "kantoor\x00utrecht"], ids=["colon", "blank", "nul"]
)
def test_an_office_id_that_could_name_another_office_is_refused(tenant: str) -> None:
    # Office acme's dossier "eu:d1" and office "acme:eu"'s dossier "d1" would share a record
    # key and an aggregate: an office id never contains ':'.
    record = json.loads(encode(event_of(c.ActionPointOpened)))
    record["tenantid"] = tenant
    with pytest.raises(NotAnEvent, match="not a CloudEvents envelope: tenantid"):
        decode(topics.DOSSIERCONTROLE, json.dumps(record).encode())
    with pytest.raises(ValidationError, match="tenantid"):
        new_event(c.ScenarioDeleted, DATA[c.ScenarioDeleted], source="s", tenant=tenant)


def test_events_cannot_be_changed_once_made() -> None:
    event = event_of(c.ActionPointOpened)
    with pytest.raises(ValidationError, match="frozen"):
        event.tenantid = "kantoor-amsterdam"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        event.data.title = "Iets anders"
    with pytest.raises(ValidationError, match="frozen"):
        event.data.subject.scope = "levensverzekering"
    # Lists arrive as tuples, so nobody appends to a scenario's items either.
    assert isinstance(event_of(c.ScenarioDefined).data.items, tuple)


def test_a_newer_producer_may_add_fields_without_breaking_readers() -> None:
    # Tolerant reader: unknown envelope extensions and data fields are ignored.
    written = event_of(c.ProductCreated)
    record = json.loads(encode(written))
    record["partitionkey"] = "kantoor-utrecht"
    record["data"]["product_label"] = "Hypotheek Jansen"
    assert decode(topics.PRODUCTS, as_bytes(record)) == written


def test_the_trace_of_a_platform_event_is_read_and_a_malformed_one_ignored() -> None:
    # CloudEvents distributed tracing: the W3C traceparent of what caused the event.
    record = json.loads(encode(event_of(c.ProductCreated)))
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    record["traceparent"] = traceparent
    assert decode(topics.PRODUCTS, as_bytes(record)).traceparent == traceparent
    # A platform service that puts something else there still gets its event through.
    for malformed in ("00-abc-def-01", 42, None):
        record["traceparent"] = malformed
        assert decode(topics.PRODUCTS, as_bytes(record)).traceparent is None


# --- records that are not events we accept ----------------------------------------------------


def test_bytes_that_are_not_json_are_refused_as_not_an_event() -> None:
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, b"\x00\x01 this is not json")
    assert refused.value.reason.startswith("not JSON:")


@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_json_nested_too_deeply_is_refused_not_a_crash(opening: bytes) -> None:
    # Ten kilobytes of brackets must not take the consumer down: it is a record to dead-letter.
    raw = opening * 5000 + b"1" + (b"]" if opening == b"[" else b"}") * 5000
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, raw)
    assert refused.value.reason == "not JSON: nested too deeply"


def test_a_number_too_long_to_convert_is_refused_not_a_crash() -> None:
    # Python refuses integers of more than 4300 digits with a plain ValueError.
    raw = b'{"specversion": "1.0", "dataversion": 1' + b"0" * 5000 + b"}"
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, raw)
    assert refused.value.reason.startswith("not JSON: Exceeds the limit (4300 digits)")


def test_a_record_without_a_value_is_refused() -> None:
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, None)
    assert refused.value.reason == "record has no value"


@pytest.mark.parametrize(
    ("document", "named"), [([1, 2], "list"), ("ProductCreated", "str"), (42, "int")]
)
def test_json_that_is_not_an_object_is_refused(document: Any, named: str) -> None:
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(document))
    assert refused.value.reason == f"not a CloudEvents envelope: a JSON {named}"


def test_an_envelope_missing_fields_names_each_missing_field() -> None:
    record = product_created_record()
    del record["id"], record["tenantid"]
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(record))
    assert refused.value.reason == (
        "not a CloudEvents envelope: id: Field required; tenantid: Field required"
    )


def test_a_dossier_id_longer_than_the_data_contracts_allow_is_refused_at_the_door() -> None:
    # The scenario service copies the envelope's dossierid into the runs and requests it
    # publishes, whose dossier_id holds at most 200 characters. Accepting a longer one would
    # store events the outbox can never publish, and stall it for every office.
    record = product_created_record(dossierid="d" * 201)
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(record))
    assert refused.value.reason == (
        "not a CloudEvents envelope: dossierid: String should have at most 200 characters"
    )
    # An empty one is no dossier either.
    with pytest.raises(NotAnEvent, match="dossierid: String should have at least 1 character"):
        decode(topics.PRODUCTS, as_bytes(product_created_record(dossierid="")))


def test_a_naive_event_time_is_refused() -> None:
    # Without an offset nobody knows when "09:30" was.
    record = product_created_record(time="2025-03-10T09:30:00")
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(record))
    assert refused.value.reason == (
        "not a CloudEvents envelope: time: Input should have timezone info"
    )


def test_a_naive_appointment_start_is_refused_as_invalid() -> None:
    record = json.loads(encode(event_of(c.AppointmentScheduled)))
    record["data"]["starts_at"] = "2025-03-20T14:00:00"
    with pytest.raises(InvalidEvent) as refused:
        decode(topics.APPOINTMENTS, as_bytes(record))
    assert refused.value.reason == (
        "invalid AppointmentScheduled: AppointmentScheduled.data.starts_at: "
        "Input should have timezone info"
    )


def test_a_product_whose_type_is_not_a_scope_slug_is_refused_as_invalid() -> None:
    record = product_created_record()
    record["data"]["product_type"] = "Hypotheek!"
    with pytest.raises(InvalidEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(record))
    assert refused.value.reason.startswith(
        "invalid ProductCreated: ProductCreated.data.product_type: String should match pattern"
    )


def test_a_product_without_its_id_is_refused_as_invalid() -> None:
    record = product_created_record()
    del record["data"]["product_id"]
    with pytest.raises(InvalidEvent) as refused:
        decode(topics.PRODUCTS, as_bytes(record))
    assert refused.value.reason == (
        "invalid ProductCreated: ProductCreated.data.product_id: Field required"
    )


def test_a_document_list_without_items_is_refused_as_invalid() -> None:
    record = json.loads(encode(event_of(c.DocumentListReceived)))
    record["data"]["items"] = []
    with pytest.raises(InvalidEvent) as refused:
        decode(topics.DOCUMENT_LISTS, as_bytes(record))
    assert refused.value.reason.startswith("invalid DocumentListReceived:")
    assert "data.items: Tuple should have at least 1 item" in refused.value.reason


def test_an_oversized_record_is_refused_before_it_is_parsed() -> None:
    record = product_created_record()
    record["data"]["padding"] = "x" * MAX_RECORD_BYTES
    raw = as_bytes(record)
    with pytest.raises(NotAnEvent) as refused:
        decode(topics.PRODUCTS, raw)
    assert refused.value.reason == (
        f"record of {len(raw)} bytes exceeds the limit of {MAX_RECORD_BYTES}"
    )


def test_an_unknown_type_is_reported_as_unknown_so_a_tolerant_reader_skips_it() -> None:
    record = product_created_record(type="ProductArchived")
    with pytest.raises(UnknownEventType) as unknown:
        decode(topics.PRODUCTS, as_bytes(record))
    assert unknown.value.event_type == "ProductArchived"
    assert unknown.value.reason == "unknown event type 'ProductArchived'"


def test_an_event_on_the_wrong_topic_is_unknown_there() -> None:
    # An appointment event is not part of the products topic's contract.
    with pytest.raises(UnknownEventType):
        decode(topics.PRODUCTS, encode(event_of(c.AppointmentCancelled)))


def test_new_event_refuses_data_that_breaks_the_contract() -> None:
    # A producer cannot even build an event with a naive moment in it.
    with pytest.raises(ValidationError, match="timezone"):
        new_event(
            c.AppointmentScheduled,
            {"appointment_id": "afspraak-1", "starts_at": datetime(2025, 3, 20, 14, 0)},
            source="actiepunten/test",
            tenant="kantoor-utrecht",
            dossier="dossier-1",
        )


def test_a_platform_event_without_the_optional_time_attribute_is_accepted() -> None:
    # CloudEvents makes `time` optional; another platform service may leave it out.
    record = {
        "specversion": "1.0",
        "id": str(uuid4()),
        "source": "platform/products",
        "type": "ProductCreated",
        "tenantid": "kantoor-1",
        "dossierid": "dossier-1",
        "data": {"product_id": "hyp-1", "product_type": "hypotheek"},
    }
    event = decode(topics.PRODUCTS, json.dumps(record).encode())
    assert event.time is None
    assert event.data.product_id == "hyp-1"


def test_an_appointment_has_the_appointment_scope_and_a_product_the_scope_of_its_type() -> None:
    """One rule, in the contracts, for the scenario service and the web pages alike."""
    assert c.scope_of("appointment", "hypotheek") == c.APPOINTMENT_SCOPE
    assert c.scope_of("product", "hypotheek") == "hypotheek"
    # The rule names the contract's subject types, and its scope is a valid one.
    assert set(get_args(c.Subject.model_fields["type"].annotation)) == {"product", "appointment"}
    c.Subject(type="appointment", id="afspraak-1", scope=c.APPOINTMENT_SCOPE)
