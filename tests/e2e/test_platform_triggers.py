"""Stories of what starts document requests besides an adviser's click: platform events on
Kafka (a new product, a submitted application, appointments, a lender's document list), the
adviser's manual request, and records the scenario service cannot accept (dead letters)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.support import (
    Office,
    System,
    cloud_event,
    eventually,
    product,
    publish,
    publish_many,
    read_dead_letters,
    read_events,
    read_to_end,
    run_reaches,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

# How long another service may take to show an effect (a busy shared broker and CI machine).
SETTLE = 30.0


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def _key(office: Office, dossier_id: str) -> str:
    return f"{office.tenant}:{dossier_id}"


def _of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]


def _scenario_events(
    kafka: Broker, office: Office, until: Any, timeout: float = SETTLE
) -> list[dict[str, Any]]:
    return read_events(
        kafka.bootstrap_servers, topics.SCENARIO, office.tenant, until=until, timeout=timeout
    )


def _all_scenario_events(kafka: Broker, office: Office) -> list[dict[str, Any]]:
    return read_to_end(
        kafka.bootstrap_servers, topics.SCENARIO, keep=lambda e: e.get("tenantid") == office.tenant
    )


def _documents_by_subject(system: System, office: Office, dossier_id: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for document in system.documents(office, dossier_id):
        found.setdefault(document["subject"]["id"], set()).add(document["document_type"])
    return found


def _product_event(
    event_type: str, office: Office, dossier_id: str, product_id: str, scope: str
) -> dict[str, Any]:
    return cloud_event(
        event_type,
        office.tenant,
        dossier_id,
        {"product_id": product_id, "product_type": scope},
        source="platform/products",
    )


# --- products ----------------------------------------------------------------------------------


def test_product_events_start_the_offices_matching_scenarios(system: System, kafka: Broker) -> None:
    office, other_office = system.office(), system.office()
    # The admin sets up scenarios that start by themselves, and some that do not match.
    on_created = system.define_scenario(
        office,
        "hypotheek",
        "identiteitsbewijs",
        "werkgeversverklaring",
        name="Nieuwe hypotheek",
        trigger={"event": "product_created"},
    )
    on_submitted = system.define_scenario(
        office,
        "hypotheek",
        "taxatierapport",
        name="Aanvraag ingediend",
        trigger={"event": "application_submitted"},
    )
    life_on_created = system.define_scenario(
        office,
        "levensverzekering",
        "gezondheidsverklaring",
        name="Nieuwe levensverzekering",
        trigger={"event": "product_created"},
    )
    system.define_scenario(office, "hypotheek", "jaarcijfers", name="Handmatig")
    system.define_scenario(
        other_office, "hypotheek", "koopakte", trigger={"event": "product_created"}
    )

    # The platform's product service creates a mortgage in the client's dossier.
    created = _product_event("ProductCreated", office, "dossier-1", "hyp-1", "hypotheek")
    publish(kafka.bootstrap_servers, topics.PRODUCTS, created, _key(office, "dossier-1"))

    # Only the office's mortgage scenario for new products starts, and runs now.
    events = _scenario_events(kafka, office, lambda f: bool(_of_type(f, "ScenarioExecuted")))
    [scheduled] = _of_type(events, "ScenarioScheduled")
    assert scheduled["data"]["scenario_id"] == on_created
    assert scheduled["data"]["subject"] == product("hyp-1")
    assert scheduled["data"]["started_by"] == "trigger:product_created"
    run_reaches(system, office, scheduled["data"]["run_id"], "executed")
    eventually(
        lambda: _assert_equal(
            _documents_by_subject(system, office, "dossier-1"),
            {"hyp-1": {"identiteitsbewijs", "werkgeversverklaring"}},
        ),
        timeout=SETTLE,
    )

    # The same event delivered again (same id) starts nothing new; then the application for
    # the mortgage is submitted, and a life insurance is created.
    submitted = _product_event("ApplicationSubmitted", office, "dossier-1", "hyp-1", "hypotheek")
    life = _product_event("ProductCreated", office, "dossier-1", "lev-1", "levensverzekering")
    publish_many(
        kafka.bootstrap_servers,
        topics.PRODUCTS,
        [(event, _key(office, "dossier-1")) for event in (created, submitted, life)],
    )

    def three_runs_executed(found: list[dict[str, Any]]) -> bool:
        return len({e["data"]["run_id"] for e in _of_type(found, "ScenarioExecuted")}) >= 3

    events = _scenario_events(kafka, office, three_runs_executed)
    started = {e["data"]["run_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    assert sorted(
        (run["scenario_id"], run["subject"]["id"], run["started_by"]) for run in started.values()
    ) == sorted(
        [
            (on_created, "hyp-1", "trigger:product_created"),
            (on_submitted, "hyp-1", "trigger:application_submitted"),
            (life_on_created, "lev-1", "trigger:product_created"),
        ]
    )
    eventually(
        lambda: _assert_equal(
            _documents_by_subject(system, office, "dossier-1"),
            {
                "hyp-1": {"identiteitsbewijs", "werkgeversverklaring", "taxatierapport"},
                "lev-1": {"gezondheidsverklaring"},
            },
        ),
        timeout=SETTLE,
    )

    # The client sees four open tasks; the other office's scenario never started.
    eventually(
        lambda: _assert_equal(system.portal(office, "dossier-1")["progress"]["open"], 4),
        timeout=SETTLE,
    )
    assert _of_type(_all_scenario_events(kafka, other_office), "ScenarioScheduled") == []
    assert system.documents(other_office, "dossier-1") == []


def _assert_equal(actual: Any, expected: Any) -> None:
    assert actual == expected


# --- appointments ------------------------------------------------------------------------------


def _appointment_event(
    event_type: str, office: Office, dossier_id: str, appointment_id: str, starts_at: datetime
) -> dict[str, Any]:
    data: dict[str, Any] = {"appointment_id": appointment_id}
    if event_type != "AppointmentCancelled":
        data["starts_at"] = starts_at.isoformat()
    return cloud_event(event_type, office.tenant, dossier_id, data, source="platform/agenda")


def _appointment_scenarios(system: System, office: Office) -> tuple[str, str]:
    before = system.define_scenario(
        office,
        "afspraak",
        "identiteitsbewijs",
        "loonstrook",
        name="Voor het adviesgesprek",
        trigger={"event": "appointment_scheduled", "offset_days": -3},
    )
    after = system.define_scenario(
        office,
        "afspraak",
        "getekende_opdracht",
        name="Na het adviesgesprek",
        trigger={"event": "appointment_scheduled", "offset_days": 2},
    )
    return before, after


def test_an_appointment_schedules_moves_and_cancels_its_scenarios(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    before, after = _appointment_scenarios(system, office)
    key = _key(office, "dossier-1")

    # The agenda schedules an advice meeting ten days ahead.
    starts_at = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    scheduled = _appointment_event("AppointmentScheduled", office, "dossier-1", "afs-1", starts_at)
    publish(kafka.bootstrap_servers, topics.APPOINTMENTS, scheduled, key)

    # Two runs are prepared: three days before the meeting and two days after it.
    events = _scenario_events(kafka, office, lambda f: len(_of_type(f, "ScenarioScheduled")) >= 2)
    runs = {e["data"]["scenario_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    assert datetime.fromisoformat(runs[before]["execute_at"]) == starts_at - timedelta(days=3)
    assert datetime.fromisoformat(runs[after]["execute_at"]) == starts_at + timedelta(days=2)
    assert runs[before]["subject"] == {"type": "appointment", "id": "afs-1", "scope": "afspraak"}
    before_run, after_run = runs[before]["run_id"], runs[after]["run_id"]
    assert run_reaches(system, office, before_run, "scheduled")["execute_at"]

    # The meeting moves to twenty days ahead: the runs move with it.
    moved_to = starts_at + timedelta(days=10)
    moved = _appointment_event("AppointmentRescheduled", office, "dossier-1", "afs-1", moved_to)
    publish(kafka.bootstrap_servers, topics.APPOINTMENTS, moved, key)

    def rescheduled(found: list[dict[str, Any]]) -> bool:
        return len(_of_type(found, "ScenarioScheduled")) >= 4

    events = _scenario_events(kafka, office, rescheduled)
    latest = {e["data"]["run_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    assert set(latest) == {before_run, after_run}  # the same runs, not new ones
    assert datetime.fromisoformat(latest[before_run]["execute_at"]) == moved_to - timedelta(days=3)
    assert datetime.fromisoformat(latest[after_run]["execute_at"]) == moved_to + timedelta(days=2)
    run = run_reaches(system, office, before_run, "scheduled")
    assert datetime.fromisoformat(run["execute_at"]) == moved_to - timedelta(days=3)

    # The meeting is cancelled: so are its runs, and nothing was requested.
    cancelled = _appointment_event("AppointmentCancelled", office, "dossier-1", "afs-1", moved_to)
    publish(kafka.bootstrap_servers, topics.APPOINTMENTS, cancelled, key)
    events = _scenario_events(
        kafka, office, lambda f: len(_of_type(f, "ScenarioRunCancelled")) >= 2
    )
    assert {
        (e["data"]["run_id"], e["data"]["reason"]) for e in _of_type(events, "ScenarioRunCancelled")
    } == {(before_run, "appointment_cancelled"), (after_run, "appointment_cancelled")}
    run_reaches(system, office, before_run, "cancelled")
    run_reaches(system, office, after_run, "cancelled")
    assert _of_type(events, "DocumentRequested") == []


def test_an_appointment_too_soon_for_its_offset_requests_now(system: System, kafka: Broker) -> None:
    office = system.office()
    before, after = _appointment_scenarios(system, office)
    key = _key(office, "dossier-1")

    # The meeting is tomorrow: three days before it has passed, so that scenario runs now.
    starts_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    scheduled = _appointment_event("AppointmentScheduled", office, "dossier-1", "afs-2", starts_at)
    publish(kafka.bootstrap_servers, topics.APPOINTMENTS, scheduled, key)

    events = _scenario_events(kafka, office, lambda f: bool(_of_type(f, "ScenarioExecuted")))
    runs = {e["data"]["scenario_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    [executed] = _of_type(events, "ScenarioExecuted")
    assert executed["data"]["run_id"] == runs[before]["run_id"]
    assert run_reaches(system, office, runs[after]["run_id"], "scheduled")

    # Its documents are in the dossier check under the appointment, and on the portal.
    eventually(
        lambda: _assert_equal(
            _documents_by_subject(system, office, "dossier-1"),
            {"afs-2": {"identiteitsbewijs", "loonstrook"}},
        ),
        timeout=SETTLE,
    )
    eventually(
        lambda: _assert_equal(system.portal(office, "dossier-1")["progress"]["open"], 2),
        timeout=SETTLE,
    )

    # Moving the meeting moves only the run still waiting; the executed one stays as it was.
    moved_to = starts_at + timedelta(days=7)
    moved = _appointment_event("AppointmentRescheduled", office, "dossier-1", "afs-2", moved_to)
    publish(kafka.bootstrap_servers, topics.APPOINTMENTS, moved, key)

    def moved_after_run(found: list[dict[str, Any]]) -> bool:
        return len(_of_type(found, "ScenarioScheduled")) >= 3

    events = _scenario_events(kafka, office, moved_after_run)
    [*_, last] = _of_type(events, "ScenarioScheduled")
    assert last["data"]["run_id"] == runs[after]["run_id"]
    assert datetime.fromisoformat(last["data"]["execute_at"]) == moved_to + timedelta(days=2)
    assert run_reaches(system, office, runs[before]["run_id"], "executed")


def test_the_same_fact_sent_twice_with_new_ids_starts_its_scenarios_once(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    on_created = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", trigger={"event": "product_created"}
    )
    on_submitted = system.define_scenario(
        office, "hypotheek", "taxatierapport", trigger={"event": "application_submitted"}
    )
    before, after = _appointment_scenarios(system, office)
    key = _key(office, "dossier-1")

    # The platform sends each fact twice, each time as a new event (a new CloudEvent id): a
    # mortgage created, its application submitted, and an appointment, moved a day by the
    # second copy. A life insurance created last marks the end of the stream.
    starts_at = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    moved_to = starts_at + timedelta(days=1)
    publish_many(
        kafka.bootstrap_servers,
        topics.PRODUCTS,
        [
            (_product_event(kind, office, "dossier-1", "hyp-1", "hypotheek"), key)
            for kind in ["ProductCreated"] * 2 + ["ApplicationSubmitted"] * 2
        ],
    )
    publish_many(
        kafka.bootstrap_servers,
        topics.APPOINTMENTS,
        [
            (_appointment_event("AppointmentScheduled", office, "dossier-1", "afs-1", at), key)
            for at in (starts_at, moved_to)
        ],
    )
    life = system.define_scenario(
        office, "levensverzekering", "polis", trigger={"event": "product_created"}
    )
    publish(
        kafka.bootstrap_servers,
        topics.PRODUCTS,
        _product_event("ProductCreated", office, "dossier-1", "lev-1", "levensverzekering"),
        key,
    )

    # Each scenario started once (the marker's too); the appointment's runs moved.
    def marker_and_moved(found: list[dict[str, Any]]) -> bool:
        requested = {e["data"]["subject"]["id"] for e in _of_type(found, "DocumentRequested")}
        return "lev-1" in requested and any(
            datetime.fromisoformat(e["data"]["execute_at"]) == moved_to + timedelta(days=2)
            for e in _of_type(found, "ScenarioScheduled")
        )

    events = _scenario_events(kafka, office, marker_and_moved)
    runs = {e["data"]["run_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    assert sorted((r["scenario_id"], r["subject"]["id"]) for r in runs.values()) == sorted(
        [
            (on_created, "hyp-1"),
            (on_submitted, "hyp-1"),
            (before, "afs-1"),
            (after, "afs-1"),
            (life, "lev-1"),
        ]
    )
    latest = {e["data"]["scenario_id"]: e["data"] for e in _of_type(events, "ScenarioScheduled")}
    assert datetime.fromisoformat(latest[before]["execute_at"]) == moved_to - timedelta(days=3)
    run_reaches(system, office, latest[after]["run_id"], "scheduled")

    # The client has one task per requested document, not two.
    eventually(
        lambda: _assert_equal(
            _documents_by_subject(system, office, "dossier-1"),
            {"hyp-1": {"identiteitsbewijs", "taxatierapport"}, "lev-1": {"polis"}},
        ),
        timeout=SETTLE,
    )
    assert len({e["data"]["request_id"] for e in _of_type(events, "DocumentRequested")}) == 3


# --- document lists (stukkenlijsten) and manual requests ------------------------------------


def _requested_request_ids(events: list[dict[str, Any]], reference: str) -> set[str]:
    return {
        e["data"]["request_id"]
        for e in _of_type(events, "DocumentRequested")
        if e["data"].get("reference") == reference
    }


def test_a_document_list_posted_twice_requests_its_documents_once(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    body = {
        "dossier_id": "dossier-1",
        "subject": product(),
        "reference": "bank-42",
        "items": [
            {"document_type": "werkgeversverklaring"},
            {"document_type": "loonstrook", "title": "Loonstrook mei"},
        ],
    }
    # The lender's list arrives; then the same list again.
    first = system.post("scenario", "/document-lists", office.adviser, json=body)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    again = system.post("scenario", "/document-lists", office.adviser, json=body)
    assert again.status_code == 201, again.text
    assert again.json()["created"] is False
    assert again.json()["request_ids"] == first.json()["request_ids"]

    # The dossier check shows the two documents, with the list's title where it gave one.
    def two_documents() -> None:
        documents = system.documents(office, "dossier-1")
        assert sorted((d["document_type"], d["title"]) for d in documents) == [
            ("loonstrook", "Loonstrook mei"),
            ("werkgeversverklaring", "Werkgeversverklaring"),
        ]

    eventually(two_documents, timeout=SETTLE)

    # Eight copies of a new list posted at the same moment: one is new, none fails.
    body["reference"] = "bank-43"
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: system.post("scenario", "/document-lists", office.adviser, json=body),
                range(8),
            )
        )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    assert sorted(a.json()["created"] for a in answers) == [False] * 7 + [True]

    # Other services were asked for each document of each list once.
    def both_lists(found: list[dict[str, Any]]) -> bool:
        return bool(_requested_request_ids(found, "bank-43"))

    events = _scenario_events(kafka, office, both_lists)
    assert _requested_request_ids(events, "bank-42") == set(first.json()["request_ids"])
    assert len(_requested_request_ids(events, "bank-43")) == 2


def test_a_document_list_received_twice_on_kafka_requests_its_documents_once(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    key = _key(office, "dossier-1")
    items = [{"document_type": "koopakte"}, {"document_type": "taxatierapport"}]

    def document_list(reference: str, listed: list[dict[str, Any]]) -> dict[str, Any]:
        data = {"subject": product(), "reference": reference, "items": listed}
        return cloud_event(
            "DocumentListReceived", office.tenant, "dossier-1", data, source="platform/lenders"
        )

    # The lender gateway delivers the same list twice (two events, one reference), then another.
    publish_many(
        kafka.bootstrap_servers,
        topics.DOCUMENT_LISTS,
        [
            (document_list("lender-7", items), key),
            (document_list("lender-7", items), key),
            (document_list("lender-8", [{"document_type": "hypotheekofferte"}]), key),
        ],
    )

    # The dossier check holds the documents of both lists.
    def three_documents() -> None:
        assert sorted(d["document_type"] for d in system.documents(office, "dossier-1")) == [
            "hypotheekofferte",
            "koopakte",
            "taxatierapport",
        ]

    eventually(three_documents, timeout=SETTLE)

    # Each document of the twice-delivered list was requested once, by the lender gateway.
    events = _scenario_events(kafka, office, lambda f: bool(_requested_request_ids(f, "lender-8")))
    assert len(_requested_request_ids(events, "lender-7")) == 2
    assert {
        e["data"]["requested_by"]
        for e in _of_type(events, "DocumentRequested")
        if e["data"].get("reference") == "lender-7"
    } == {"platform/lenders"}

    # The adviser posting the same list by hand finds it there already.
    again = system.post(
        "scenario",
        "/document-lists",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "reference": "lender-7",
            "items": items,
        },
    )
    assert again.status_code == 201, again.text
    assert again.json()["created"] is False


def test_another_list_under_a_known_reference_is_refused_on_both_paths(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    key = _key(office, "dossier-1")
    body = {
        "dossier_id": "dossier-1",
        "subject": product(),
        "reference": "bank-77",
        "items": [{"document_type": "werkgeversverklaring"}],
    }
    first = system.post("scenario", "/document-lists", office.adviser, json=body)
    assert first.status_code == 201, first.text

    # The adviser posts another list under the same reference: other items, another dossier.
    for changed in (
        {"items": [{"document_type": "loonstrook"}]},
        {"dossier_id": "dossier-2"},
    ):
        refused = system.post(
            "scenario", "/document-lists", office.adviser, json={**body, **changed}
        )
        assert refused.status_code == 409, refused.text
        assert "bank-77" in refused.json()["detail"]
    # The same list again is still a quiet repeat.
    again = system.post("scenario", "/document-lists", office.adviser, json=body)
    assert (again.status_code, again.json()["created"]) == (201, False)

    # The lender gateway sends another list under that reference, then a new one.
    def document_list(reference: str, document_type: str) -> dict[str, Any]:
        data = {
            "subject": product(),
            "reference": reference,
            "items": [{"document_type": document_type}],
        }
        return cloud_event(
            "DocumentListReceived", office.tenant, "dossier-1", data, source="platform/lenders"
        )

    placed = publish_many(
        kafka.bootstrap_servers,
        topics.DOCUMENT_LISTS,
        [(document_list("bank-77", "koopakte"), key), (document_list("bank-78", "polis"), key)],
    )
    conflicting, new = ((topics.DOCUMENT_LISTS, *at) for at in placed)

    # The other list is dead-lettered with the reason; the new one is requested.
    letters = read_dead_letters(
        kafka.bootstrap_servers,
        topics.SCENARIO_DLQ,
        [conflicting, new],
        expected=[conflicting],
        timeout=SETTLE,
    )
    assert "bank-77" in letters[conflicting]["reason"]
    assert "items" in letters[conflicting]["reason"]
    eventually(
        lambda: _assert_equal(
            sorted(d["document_type"] for d in system.documents(office, "dossier-1")),
            ["polis", "werkgeversverklaring"],
        ),
        timeout=SETTLE,
    )
    assert new not in letters


def test_adviser_requests_a_document_by_hand(system: System, kafka: Broker) -> None:
    office = system.office()
    # The adviser asks for a bank statement, and for a policy without a task for the client.
    statement = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "document_type": "bankafschrift",
            "title": "Bankafschrift januari",
        },
    )
    assert statement.status_code == 201, statement.text
    policy = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "document_type": "polis",
            "action_point": False,
        },
    )
    assert policy.status_code == 201, policy.text

    # Both are in the dossier check; only the bank statement has an action point.
    def both_requested() -> dict[str, Any]:
        documents = {d["document_type"]: d for d in system.documents(office, "dossier-1")}
        assert set(documents) == {"bankafschrift", "polis"}
        return documents

    documents = eventually(both_requested, timeout=SETTLE)
    assert documents["bankafschrift"]["title"] == "Bankafschrift januari"
    assert documents["bankafschrift"]["action_point"]["status"] == "open"
    assert documents["polis"]["action_point"] is None

    # The client sees the one open task on the portal.
    def one_task() -> None:
        points = system.portal(office, "dossier-1")["action_points"]
        assert [(p["document_type"], p["status"]) for p in points] == [("bankafschrift", "open")]

    eventually(one_task, timeout=SETTLE)

    # The request is on the topic as a manual one.
    events = _scenario_events(kafka, office, lambda f: len(_of_type(f, "DocumentRequested")) >= 2)
    manual = {e["data"]["request_id"]: e["data"] for e in _of_type(events, "DocumentRequested")}
    assert manual[statement.json()["request_id"]]["source"] == "manual"
    assert manual[statement.json()["request_id"]]["requested_by"] == "adviser:adviser-1"
    # Only an adviser requests documents.
    refused = system.post(
        "scenario",
        "/document-requests",
        office.client("dossier-1"),
        json={"dossier_id": "dossier-1", "subject": product(), "document_type": "polis"},
    )
    assert refused.status_code == 403


# --- records the scenario service cannot accept ---------------------------------------------


def test_bad_platform_records_go_to_the_dead_letter_topic(system: System, kafka: Broker) -> None:
    office = system.office()
    system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", trigger={"event": "product_created"}
    )
    key = _key(office, "dossier-1")

    def created(product_id: str, scope: str = "hypotheek") -> dict[str, Any]:
        return _product_event("ProductCreated", office, "dossier-1", product_id, scope)

    without_dossier = created("hyp-x")
    del without_dossier["dossierid"]
    unknown = cloud_event("ProductArchived", office.tenant, "dossier-1", {"product_id": "hyp-1"})

    # Valid events and bad records arrive interleaved on the products topic.
    records: list[tuple[str, dict[str, Any] | bytes]] = [
        ("valid", created("hyp-1")),
        ("bad", b"{this is not JSON"),
        ("bad", created("hyp-y", scope="Not A Slug")),
        ("valid", created("hyp-2")),
        ("unknown", unknown),
        ("bad", without_dossier),
        ("valid", created("hyp-3")),
    ]
    placed = publish_many(
        kafka.bootstrap_servers, topics.PRODUCTS, [(value, key) for _, value in records]
    )
    origin = {at: kind for at, (kind, _) in zip(placed, records, strict=True)}

    # Every valid one was processed: each product got its scenario's document.
    eventually(
        lambda: _assert_equal(
            set(_documents_by_subject(system, office, "dossier-1")), {"hyp-1", "hyp-2", "hyp-3"}
        ),
        timeout=SETTLE,
    )

    # The bad ones, and only those, are on the DLQ with a reason and where they came from.
    # (Other systems on a shared broker dead-letter the same records: count origins, not letters.)
    letters = read_to_end(
        kafka.bootstrap_servers,
        topics.SCENARIO_DLQ,
        keep=lambda letter: (
            letter.get("origin", {}).get("topic") == topics.PRODUCTS
            and (letter["origin"]["partition"], letter["origin"]["offset"]) in origin
        ),
    )
    reasons = {
        (letter["origin"]["partition"], letter["origin"]["offset"]): letter["reason"]
        for letter in letters
    }
    bad = [at for at, kind in origin.items() if kind == "bad"]
    assert set(reasons) == set(bad), (reasons, origin)
    assert "not JSON" in reasons[bad[0]]
    assert "product_type" in reasons[bad[1]]
    assert "dossierid" in reasons[bad[2]]
    assert all(letter["_key"] == key.encode() for letter in letters)

    # The service carries on.
    assert system.get("scenario", "/health", {}).status_code == 200
