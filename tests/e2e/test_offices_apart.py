"""Two offices whose ids run together stay apart (issue 7, item 1).

Office ``K`` keeps dossier ``eu:d1``; an office ``K:eu`` with dossier ``d1`` would have had the
same record key (``K:eu:d1``) and the same dossier check. An office id cannot contain ``:``:
such a token is refused, and an event that names such an office is dead-lettered, so the
second office can neither read nor change the first office's dossier check, documents or portal.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from devtools import Broker
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.support import (
    Office,
    System,
    eventually,
    pdf_file,
    product,
    publish_raw_batch,
    read_dead_letters,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

PDF = pdf_file()


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def request_document(system: System, office: Office, dossier_id: str, document_type: str) -> None:
    response = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={"dossier_id": dossier_id, "subject": product(), "document_type": document_type},
    )
    assert response.status_code == 201, response.text


def envelope(kind: type[c.CloudEvent], data: dict[str, Any], tenant: str, dossier: str) -> bytes:
    """An event of ``kind``, with ``tenant`` put in after validation, as a faulty producer
    (or one that never heard of the rule) would publish it."""
    event = json.loads(
        encode(new_event(kind, data, source="platform/test", tenant="placeholder", dossier=dossier))
    )
    event["tenantid"] = tenant
    return json.dumps(event).encode()


def test_an_office_whose_id_runs_into_anothers_dossier_never_sees_or_changes_it(
    system: System, kafka: Broker
) -> None:
    first = system.office()
    # The first office requests a document in its dossier "eu:d1"; the client sees the task.
    request_document(system, first, "eu:d1", "identiteitsbewijs")

    def on_the_portal() -> dict[str, Any]:
        points = system.portal(first, "eu:d1")["action_points"]
        assert len(points) == 1, points
        return points[0]  # type: ignore[no-any-return]

    point = eventually(on_the_portal, timeout=30)
    [document] = system.documents(first, "eu:d1")

    # A second "office" K:eu with dossier d1: the same record key, once the same dossier check.
    second = Office(system.secret, tenant=f"{first.tenant}:eu")
    calls: list[tuple[str, str, str, dict[str, str], dict[str, Any]]] = [
        ("GET", "dossiercontrole", "/dossiers/d1/documents", second.adviser, {}),
        ("GET", "dossiercontrole", "/dossiers/d1/action-points", second.adviser, {}),
        ("GET", "portal", "/portal/dossiers/d1/action-points", second.client("d1"), {}),
        ("GET", "portal", "/portal/dossiers/d1/action-points", second.adviser, {}),
        (
            "POST",
            "scenario",
            "/document-requests",
            second.adviser,
            {
                "json": {
                    "dossier_id": "d1",
                    "subject": product(),
                    "document_type": "loonstrook",
                }
            },
        ),
        (
            "POST",
            "dossiercontrole",
            f"/documents/{document['document_id']}/upload",
            second.client("d1"),
            {"files": {"file": ("stuk.pdf", PDF, "application/pdf")}},
        ),
        (
            "DELETE",
            "dossiercontrole",
            f"/action-points/{point['action_point_id']}",
            second.adviser,
            {},
        ),
        ("GET", "dossiercontrole", "/document-types", second.admin, {}),
        ("GET", "scenario", "/scenarios", second.admin, {}),
    ]
    for method, service, path, headers, kwargs in calls:
        response = httpx.request(method, system.url(service) + path, headers=headers, **kwargs)
        assert response.status_code == 401, (method, path, response.status_code, response.text)
        assert response.json() == {"detail": "invalid token: tenant claim must not contain ':'"}

    # On Kafka, events that name office K:eu are dead-lettered by every consumer, and the
    # consumers carry on: the record after them (the first office's, same key) is applied.
    key = f"{second.tenant}:d1"
    assert key == f"{first.tenant}:eu:d1"
    foreign: dict[str, tuple[str, bytes]] = {
        "document list": (
            topics.DOCUMENT_LISTS,
            envelope(
                c.DocumentListReceived,
                {
                    "subject": product(),
                    "reference": f"lijst-{uuid.uuid4()}",
                    "items": [{"document_type": "taxatierapport"}],
                },
                second.tenant,
                "d1",
            ),
        ),
        "document request": (
            topics.SCENARIO,
            envelope(
                c.DocumentRequested,
                {
                    "request_id": uuid.uuid4(),
                    "dossier_id": "d1",
                    "subject": product(),
                    "document_type": "bankafschrift",
                    "source": "manual",
                    "requested_by": "adviser-1",
                },
                second.tenant,
                "d1",
            ),
        ),
        "action point": (
            topics.DOSSIERCONTROLE,
            envelope(
                c.ActionPointOpened,
                {
                    "action_point_id": uuid.uuid4(),
                    "document_id": uuid.uuid4(),
                    "dossier_id": "d1",
                    "subject": product(),
                    "document_type": "werkgeversverklaring",
                    "title": "Werkgeversverklaring",
                    "opened_at": "2025-03-10T09:00:00+00:00",
                },
                second.tenant,
                "d1",
            ),
        ),
    }
    origins: dict[str, tuple[str, int, int]] = {}
    for name, (topic, value) in foreign.items():
        [(partition, offset)] = publish_raw_batch(kafka.bootstrap_servers, topic, [(key, value)])
        origins[name] = (topic, partition, offset)
    dlq_of = {
        "document list": topics.SCENARIO_DLQ,
        "document request": topics.DOSSIERCONTROLE_DLQ,
        "action point": topics.PORTAL_DLQ,
    }
    for name, origin in origins.items():
        letters = read_dead_letters(
            kafka.bootstrap_servers, dlq_of[name], [origin], expected=[origin], timeout=60
        )
        reason = letters[origin]["reason"]
        assert "tenantid" in reason and "must not contain ':'" in reason, (name, reason)

    # The first office's dossier check and portal hold only what it asked for.
    request_document(system, first, "eu:d1", "sentinel")

    def sentinel_arrived() -> dict[str, dict[str, Any]]:
        points = {p["document_id"]: p for p in system.portal(first, "eu:d1")["action_points"]}
        assert "sentinel" in {p["document_type"] for p in points.values()}, points
        return points

    points = eventually(sentinel_arrived, timeout=30)
    documents = {d["document_id"]: d for d in system.documents(first, "eu:d1")}
    assert sorted(d["document_type"] for d in documents.values()) == [
        "identiteitsbewijs",
        "sentinel",
    ]
    assert documents[document["document_id"]]["status"] == "requested"
    assert documents[document["document_id"]]["action_point"] == {
        "action_point_id": point["action_point_id"],
        "status": "open",
    }
    ours = {k: p for k, p in points.items() if k in documents}
    assert sorted(p["document_type"] for p in ours.values()) == ["identiteitsbewijs", "sentinel"]
    assert {p["status"] for p in ours.values()} == {"open"}
    # A service of an older version on a shared broker (one that still accepts office K:eu)
    # may file K:eu's records under K and publish that as K's facts; our portal shows what
    # the topic says. Our own dossier check above is the proof that we did not.
    others = sorted(p["document_type"] for k, p in points.items() if k not in documents)
    if others:
        print(f"another deployment on this broker published tasks for {first.tenant}: {others}")
