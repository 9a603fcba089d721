"""Poison on every consumed topic: the invalid records land on the consumer's DLQ with reason
and origin, unknown types are skipped, every valid record around them is processed, and the
consumer never stops.

Each topic gets the same mix, under one record key (so one partition, in this order): valid,
not JSON, a wrong envelope, a known type with invalid data, an unknown type, an oversized
record, valid. The stories of the dossier check, the portal and the platform triggers go into
more kinds of bad record per consumer; this one covers every topic alike.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools import Broker
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import MAX_RECORD_BYTES, encode, new_event
from tests.support import (
    Office,
    System,
    cloud_event,
    eventually,
    product,
    publish_many,
    read_to_end,
)

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-poison"
Make = Callable[[Office, str], dict[str, Any]]  # (office, a fresh id) -> a valid envelope


def _product(office: Office, product_id: str) -> dict[str, Any]:
    return cloud_event(
        "ProductCreated",
        office.tenant,
        DOSSIER,
        {"product_id": product_id, "product_type": "hypotheek"},
    )


def _appointment(office: Office, appointment_id: str) -> dict[str, Any]:
    starts_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()  # offset -3: due at once
    return cloud_event(
        "AppointmentScheduled",
        office.tenant,
        DOSSIER,
        {"appointment_id": appointment_id, "starts_at": starts_at},
    )


def _document_list(office: Office, subject_id: str) -> dict[str, Any]:
    return cloud_event(
        "DocumentListReceived",
        office.tenant,
        DOSSIER,
        {
            "subject": product(subject_id),
            "reference": f"list-{subject_id}",
            "items": [{"document_type": "taxatierapport"}],
        },
    )


def _document_requested(office: Office, subject_id: str) -> dict[str, Any]:
    return json.loads(
        encode(
            new_event(
                c.DocumentRequested,
                {
                    "request_id": uuid.uuid4(),
                    "dossier_id": DOSSIER,
                    "subject": product(subject_id),
                    "document_type": "taxatierapport",
                    "source": "manual",
                    "requested_by": "adviser-1",
                },
                source="actiepunten/scenario_service",
                tenant=office.tenant,
                dossier=DOSSIER,
            )
        )
    )


def _action_point_opened(office: Office, subject_id: str) -> dict[str, Any]:
    return json.loads(
        encode(
            new_event(
                c.ActionPointOpened,
                {
                    "action_point_id": uuid.uuid4(),
                    "document_id": uuid.uuid4(),
                    "dossier_id": DOSSIER,
                    "subject": product(subject_id),
                    "document_type": "taxatierapport",
                    "title": "Taxatierapport",
                    "opened_at": datetime.now(UTC),
                },
                source="actiepunten/dossiercontrole_service",
                tenant=office.tenant,
                dossier=DOSSIER,
            )
        )
    )


def _subjects_in_dossier_check(system: System, office: Office) -> set[str]:
    return {d["subject"]["id"] for d in system.documents(office, DOSSIER)}


def _subjects_on_portal(system: System, office: Office) -> set[str]:
    return {p["subject"]["id"] for p in system.portal(office, DOSSIER)["action_points"]}


# topic, its consumer's DLQ, a valid event, what shows it was processed, scenario trigger
CASES: list[tuple[str, str, Make, Callable[[System, Office], set[str]], dict[str, Any] | None]] = [
    (
        topics.PRODUCTS,
        topics.SCENARIO_DLQ,
        _product,
        _subjects_in_dossier_check,
        {"scope": "hypotheek", "trigger": {"event": "product_created"}},
    ),
    (
        topics.APPOINTMENTS,
        topics.SCENARIO_DLQ,
        _appointment,
        _subjects_in_dossier_check,
        {"scope": "afspraak", "trigger": {"event": "appointment_scheduled", "offset_days": -3}},
    ),
    (topics.DOCUMENT_LISTS, topics.SCENARIO_DLQ, _document_list, _subjects_in_dossier_check, None),
    (
        topics.SCENARIO,
        topics.DOSSIERCONTROLE_DLQ,
        _document_requested,
        _subjects_in_dossier_check,
        None,
    ),
    (topics.DOSSIERCONTROLE, topics.PORTAL_DLQ, _action_point_opened, _subjects_on_portal, None),
]


@pytest.mark.parametrize(
    ("topic", "dlq", "valid", "processed", "scenario"), CASES, ids=[case[0] for case in CASES]
)
def test_poison_is_dead_lettered_and_the_consumer_carries_on(
    system: System,
    kafka: Broker,
    topic: str,
    dlq: str,
    valid: Make,
    processed: Callable[[System, Office], set[str]],
    scenario: dict[str, Any] | None,
) -> None:
    office = system.office()
    if scenario:
        system.define_scenario(
            office, scenario["scope"], "taxatierapport", trigger=scenario["trigger"]
        )
    first, last = valid(office, "first"), valid(office, "last")
    wrong_envelope = {"type": first["type"], "data": first["data"]}  # no id, source, tenant ...
    invalid = json.loads(json.dumps(first))
    invalid["id"] = str(uuid.uuid4())
    invalid["data"] = {"unexpected": True}
    unknown = {**json.loads(json.dumps(first)), "id": str(uuid.uuid4()), "type": "SomethingNew"}
    oversized = json.dumps({**first, "padding": "x" * MAX_RECORD_BYTES}).encode()
    records: list[tuple[str, dict[str, Any] | bytes]] = [
        ("valid", first),
        ("not JSON", b"\x00 not json"),
        ("wrong envelope", wrong_envelope),
        ("invalid data", invalid),
        ("unknown type", unknown),
        ("oversized", oversized),
        ("valid", last),
    ]
    placed = publish_many(
        kafka.bootstrap_servers,
        topic,
        [(value, f"{office.tenant}:{DOSSIER}") for _, value in records],
    )
    kind_at = {at: kind for at, (kind, _) in zip(placed, records, strict=True)}

    # Both valid records were processed: the consumer went past every bad one. (The products,
    # appointments and lists are named "first" and "last"; so are their documents' subjects.)
    def both_processed() -> None:
        assert processed(system, office) == {"first", "last"}

    eventually(both_processed, timeout=60)

    # Exactly the invalid ones are on the DLQ, with their reason and origin.
    letters = read_to_end(
        kafka.bootstrap_servers,
        dlq,
        keep=lambda letter: (
            letter.get("origin", {}).get("topic") == topic
            and (letter["origin"].get("partition"), letter["origin"].get("offset")) in kind_at
        ),
    )
    reasons = {
        kind_at[(lt["origin"]["partition"], lt["origin"]["offset"])]: lt["reason"] for lt in letters
    }
    assert sorted(reasons) == sorted(["not JSON", "wrong envelope", "invalid data", "oversized"])
    assert reasons["not JSON"].startswith("not JSON")
    assert reasons["wrong envelope"].startswith("not a CloudEvents envelope")
    assert reasons["invalid data"].startswith(f"invalid {first['type']}")
    assert reasons["oversized"].startswith(f"record of {len(oversized)} bytes exceeds")
    oversized_letter = next(lt for lt in letters if lt["reason"] == reasons["oversized"])
    assert oversized_letter["value_encoding"] in {"json", "latin-1", "omitted (too large)"}

    # The consumer never stopped.
    service = {
        topics.SCENARIO_DLQ: "scenario",
        topics.DOSSIERCONTROLE_DLQ: "dossiercontrole",
        topics.PORTAL_DLQ: "portal",
    }[dlq]
    assert system.get(service, "/health", {}).status_code == 200
