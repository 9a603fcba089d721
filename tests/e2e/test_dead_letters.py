"""Dead letters: records the dossier check or the portal cannot accept go to their DLQ topic,
with the reason and where they came from, and the consumer carries on (SPEC section 3).

The bad records are published between valid ones under the same record key, so they share a
partition with them: a consumer that got stuck on a bad record would never see the good ones.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools import Broker
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.support import (
    Office,
    System,
    eventually,
    product,
    publish_raw_batch,
    read_dead_letters,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


Record = tuple[str, bytes | None]  # (what it is, value)


def document_requested(
    office: Office,
    document_type: str,
    dossier_id: str = "dossier-1",
    request_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A DocumentRequested envelope as the scenario service publishes it, as a JSON document."""
    event = new_event(
        c.DocumentRequested,
        {
            "request_id": request_id or uuid.uuid4(),
            "dossier_id": dossier_id,
            "subject": product(),
            "document_type": document_type,
            "source": "manual",
            "requested_by": "adviser-1",
        },
        source="actiepunten/scenario_service",
        tenant=office.tenant,
        dossier=dossier_id,
    )
    return json.loads(encode(event))  # type: ignore[no-any-return]


def action_point_event(office: Office, kind: type[c.CloudEvent], **data: Any) -> dict[str, Any]:
    event = new_event(
        kind,
        {"dossier_id": "dossier-1", **data},
        source="actiepunten/dossiercontrole_service",
        tenant=office.tenant,
        dossier="dossier-1",
    )
    return json.loads(encode(event))  # type: ignore[no-any-return]


def as_bytes(document: Any) -> bytes:
    return json.dumps(document).encode()


def publish(
    kafka: Broker, topic: str, key: str, records: list[Record]
) -> dict[str, tuple[str, int, int]]:
    """Publish the records in order under one key; returns each one's origin by its name."""
    placed = publish_raw_batch(
        kafka.bootstrap_servers, topic, [(key, value) for _name, value in records]
    )
    return {
        name: (topic, partition, offset)
        for (name, _value), (partition, offset) in zip(records, placed, strict=True)
    }


def dead_lettered_count(system: System, service: str, topic: str) -> float:
    text = system.get(service, "/metrics", {}).text
    pattern = rf'^actiepunten_events_dead_lettered_total\{{topic="{re.escape(topic)}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_the_dossier_check_dead_letters_what_it_cannot_accept_and_carries_on(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    before = dead_lettered_count(system, "dossiercontrole", topics.SCENARIO)
    invalid = document_requested(office, "loonstrook")
    invalid["data"]["document_type"] = "Loonstrook (PDF)!"  # not a document-type code
    unknown = {**document_requested(office, "x"), "type": "ScenarioArchived", "data": {}}
    no_tenant = document_requested(office, "jaarcijfers")
    del no_tenant["tenantid"]
    bad_subject = document_requested(office, "bankafschrift")
    bad_subject["data"]["subject"]["type"] = "house"
    irrelevant = json.loads(
        encode(
            new_event(
                c.ScenarioDeleted,
                {"scenario_id": uuid.uuid4()},
                source="actiepunten/scenario_service",
                tenant=office.tenant,
            )
        )
    )

    # Good, bad, unknown and irrelevant records of one dossier, in one partition.
    origins = publish(
        kafka,
        topics.SCENARIO,
        f"{office.tenant}:dossier-1",
        [
            ("valid identiteitsbewijs", as_bytes(document_requested(office, "identiteitsbewijs"))),
            ("not JSON", b"\x00\xffnot json {"),
            ("invalid data", as_bytes(invalid)),
            ("unknown type", as_bytes(unknown)),
            ("valid werkgeversverklaring", as_bytes(document_requested(office, "werkgever"))),
            ("JSON array", b"[1, 2, 3]"),
            ("no value", None),
            ("no tenant", as_bytes(no_tenant)),
            ("known, not for the dossier check", as_bytes(irrelevant)),
            ("valid loonstrook", as_bytes(document_requested(office, "loonstrook"))),
            ("bad subject", as_bytes(bad_subject)),
            ("valid jaarcijfers", as_bytes(document_requested(office, "jaarcijfers"))),
        ],
    )

    # The bad ones are on the dossier check's DLQ, each with its reason and origin ...
    bad = ["not JSON", "invalid data", "JSON array", "no value", "no tenant", "bad subject"]
    letters = read_dead_letters(
        kafka.bootstrap_servers,
        topics.DOSSIERCONTROLE_DLQ,
        list(origins.values()),
        expected=[origins[name] for name in bad],
    )
    by_name = {name: letters[origin] for name, origin in origins.items() if origin in letters}
    assert sorted(by_name) == sorted(bad)
    reasons = {name: letter["reason"] for name, letter in by_name.items()}
    assert reasons["not JSON"].startswith("not JSON")
    assert reasons["invalid data"].startswith("invalid DocumentRequested:")
    assert "data.document_type: String should match pattern" in reasons["invalid data"]
    assert reasons["JSON array"] == "not a CloudEvents envelope: a JSON list"
    assert reasons["no value"] == "record has no value"
    assert reasons["no tenant"].startswith("not a CloudEvents envelope: tenantid")
    assert reasons["bad subject"].startswith("invalid DocumentRequested:")
    assert "data.subject.type" in reasons["bad subject"]
    for name, letter in by_name.items():
        topic, partition, offset = origins[name]
        assert letter["origin"]["topic"] == topic
        assert (letter["origin"]["partition"], letter["origin"]["offset"]) == (partition, offset)
        assert letter["origin"]["key"] == f"{office.tenant}:dossier-1"
    assert by_name["invalid data"]["value"] == invalid
    assert by_name["not JSON"]["value_encoding"] == "latin-1"

    # ... the good ones, before and after them, are in the dossier check and on the portal ...
    def four_requested() -> None:
        documents = system.documents(office, "dossier-1")
        assert sorted(d["document_type"] for d in documents) == [
            "identiteitsbewijs",
            "jaarcijfers",
            "loonstrook",
            "werkgever",
        ]
        assert len(system.portal(office, "dossier-1")["action_points"]) == 4

    eventually(four_requested, timeout=20)

    # ... and the service stays healthy, counting what it dead-lettered.
    assert system.get("dossiercontrole", "/health", {}).status_code == 200
    after = dead_lettered_count(system, "dossiercontrole", topics.SCENARIO)
    assert after - before >= len(bad)


def test_a_request_id_reused_for_another_dossier_is_dead_lettered_not_retried_forever(
    system: System, kafka: Broker
) -> None:
    office, other_office = system.office(), system.office()
    request_id = uuid.uuid4()
    # A request adds a document to dossier-1 of our office.
    first = publish(
        kafka,
        topics.SCENARIO,
        f"{office.tenant}:dossier-1",
        [
            (
                "original",
                as_bytes(document_requested(office, "identiteitsbewijs", "dossier-1", request_id)),
            )
        ],
    )
    eventually(lambda: _assert_count(system.documents(office, "dossier-1"), 1), timeout=20)

    # A faulty producer reuses its id for another dossier, and for another office's dossier;
    # each is followed by a genuine request of that dossier (same key, same partition).
    reused = {
        **publish(
            kafka,
            topics.SCENARIO,
            f"{office.tenant}:dossier-2",
            [
                (
                    "reused, dossier-2",
                    as_bytes(document_requested(office, "loonstrook", "dossier-2", request_id)),
                ),
                (
                    "genuine, dossier-2",
                    as_bytes(document_requested(office, "werkgeversverklaring", "dossier-2")),
                ),
            ],
        ),
        **publish(
            kafka,
            topics.SCENARIO,
            f"{other_office.tenant}:dossier-1",
            [
                (
                    "reused, other office",
                    as_bytes(
                        document_requested(other_office, "loonstrook", "dossier-1", request_id)
                    ),
                ),
                (
                    "genuine, other office",
                    as_bytes(document_requested(other_office, "werkgeversverklaring", "dossier-1")),
                ),
            ],
        ),
    }

    # The reused ones are dead-lettered with the reason ...
    expected = ["reused, dossier-2", "reused, other office"]
    letters = read_dead_letters(
        kafka.bootstrap_servers,
        topics.DOSSIERCONTROLE_DLQ,
        [*first.values(), *reused.values()],
        expected=[reused[name] for name in expected],
    )
    assert sorted(letters) == sorted(reused[name] for name in expected)
    for letter in letters.values():
        assert "already" in letter["reason"] and str(request_id) in letter["reason"], letter

    # ... the genuine requests behind them are processed, and dossier-1 is as it was.
    def genuine_ones_arrived() -> None:
        for who in (office, other_office):
            dossier = "dossier-2" if who is office else "dossier-1"
            documents = system.documents(who, dossier)
            assert [d["document_type"] for d in documents] == ["werkgeversverklaring"], documents

    eventually(genuine_ones_arrived, timeout=20)
    [original] = system.documents(office, "dossier-1")
    assert original["document_type"] == "identiteitsbewijs"
    assert system.get("dossiercontrole", "/health", {}).status_code == 200


def _assert_count(items: list[Any], count: int) -> None:
    assert len(items) == count, items


def test_the_portal_dead_letters_what_it_cannot_accept_and_carries_on(
    system: System, kafka: Broker
) -> None:
    office = system.office()
    before = dead_lettered_count(system, "portal", topics.DOSSIERCONTROLE)
    now = datetime.now(UTC)
    points = [uuid.uuid4() for _ in range(3)]
    documents = [uuid.uuid4() for _ in range(3)]

    def opened(index: int, document_type: str) -> dict[str, Any]:
        return action_point_event(
            office,
            c.ActionPointOpened,
            action_point_id=points[index],
            document_id=documents[index],
            subject=product(),
            document_type=document_type,
            title=document_type.capitalize(),
            opened_at=now,
        )

    no_completed_at = action_point_event(
        office,
        c.ActionPointCompleted,
        action_point_id=points[1],
        document_id=documents[1],
        completed_at=now,
    )
    del no_completed_at["data"]["completed_at"]
    bad_scope = opened(2, "loonstrook")
    bad_scope["data"]["subject"]["scope"] = "Hypotheek!"
    unknown = {**opened(0, "x"), "type": "DocumentArchived"}
    not_for_the_portal = action_point_event(
        office,
        c.DocumentAdded,
        document_id=documents[0],
        request_id=uuid.uuid4(),
        subject=product(),
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
    )

    # Good, bad, unknown and irrelevant records of one dossier on the dossier-check topic.
    origins = publish(
        kafka,
        topics.DOSSIERCONTROLE,
        f"{office.tenant}:dossier-1",
        [
            ("opened identiteitsbewijs", as_bytes(opened(0, "identiteitsbewijs"))),
            ("not JSON", b"<xml>not an event</xml>"),
            ("completed without a moment", as_bytes(no_completed_at)),
            ("unknown type", as_bytes(unknown)),
            ("opened werkgeversverklaring", as_bytes(opened(1, "werkgeversverklaring"))),
            ("document added", as_bytes(not_for_the_portal)),
            (
                "completed identiteitsbewijs",
                as_bytes(
                    action_point_event(
                        office,
                        c.ActionPointCompleted,
                        action_point_id=points[0],
                        document_id=documents[0],
                        completed_at=now,
                    )
                ),
            ),
            ("bad scope", as_bytes(bad_scope)),
            ("opened loonstrook", as_bytes(opened(2, "loonstrook"))),
        ],
    )

    # The bad ones are on the portal's DLQ with reason and origin ...
    bad = ["not JSON", "completed without a moment", "bad scope"]
    letters = read_dead_letters(
        kafka.bootstrap_servers,
        topics.PORTAL_DLQ,
        list(origins.values()),
        expected=[origins[name] for name in bad],
    )
    by_name = {name: letters[origin] for name, origin in origins.items() if origin in letters}
    assert sorted(by_name) == sorted(bad)
    assert by_name["not JSON"]["reason"].startswith("not JSON")
    missing_moment = by_name["completed without a moment"]["reason"]
    assert missing_moment.startswith("invalid ActionPointCompleted:")
    assert "data.completed_at: Field required" in missing_moment
    assert by_name["bad scope"]["reason"].startswith("invalid ActionPointOpened:")
    assert "data.subject.scope" in by_name["bad scope"]["reason"]
    for name, letter in by_name.items():
        assert letter["consumer"] == "actiepunten.portal"
        topic, partition, offset = origins[name]
        assert letter["origin"]["topic"] == topic
        assert (letter["origin"]["partition"], letter["origin"]["offset"]) == (partition, offset)

    # ... and the client sees the good ones: one completed, two open.
    def client_sees_the_good_ones() -> None:
        portal = system.portal(office, "dossier-1")
        assert sorted((p["document_type"], p["status"]) for p in portal["action_points"]) == [
            ("identiteitsbewijs", "completed"),
            ("loonstrook", "open"),
            ("werkgeversverklaring", "open"),
        ]
        assert portal["progress"] == {"open": 2, "completed": 1, "percent": 33}

    eventually(client_sees_the_good_ones, timeout=20)
    assert system.get("portal", "/health", {}).status_code == 200
    after = dead_lettered_count(system, "portal", topics.DOSSIERCONTROLE)
    assert after - before >= len(bad)
