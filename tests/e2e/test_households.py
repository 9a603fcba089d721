"""Story of a household (SPEC section 9, issue 19): two people apply for a mortgage; the
scenario asks a payslip of each and the IB-aangifte of three years. Every document is its own
(subject, type, person, period), with its own action point, and the client and the adviser see
whose it is and which period it covers ("Loonstrook, partner").

Through the running services on each store: HTTP for what the adviser and the client do and
see, the real broker in between; bad input is a 422 on HTTP and a dead letter on Kafka.
"""

from __future__ import annotations

import html
from typing import Any

import pytest

from devtools import Broker
from shared.events import topics
from tests.e2e.test_web_pages import signed_in
from tests.support import (
    Office,
    System,
    cloud_event,
    eventually,
    product,
    publish,
    read_dead_letters,
    start_runs,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e

DOSSIER = "dossier-huishouden"
HOUSEHOLD = [
    {"role": "aanvrager", "name": "Jan de Vries"},
    {"role": "partner", "name": "Sanne de Vries"},
]
INCOME = [
    {"document_type": "loonstrook", "title": "Loonstrook", "per_person": True},
    {
        "document_type": "ib_aangifte",
        "title": "IB-aangifte",
        "periods": ["2022", "2023", "2024"],
        "instructions": "Alle pagina's, ook de lege",
    },
]
# What each document is, as (person role or None, period or None), as the client sees it.
EXPECTED = {
    ("aanvrager", None): "Loonstrook, aanvrager",
    ("partner", None): "Loonstrook, partner",
    (None, "2022"): "IB-aangifte, 2022",
    (None, "2023"): "IB-aangifte, 2023",
    (None, "2024"): "IB-aangifte, 2024",
}


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def _whose(item: dict[str, Any]) -> tuple[str | None, str | None]:
    person = item["subject"].get("person")
    return (person["role"] if person else None, item.get("period"))


def _portal_shows(system: System, office: Office, count: int) -> list[dict[str, Any]]:
    def all_there() -> list[dict[str, Any]]:
        points = system.portal_all(office, DOSSIER)
        assert len(points) == count, points
        return points

    return eventually(all_there, timeout=30)


def test_a_household_of_two_gets_a_payslip_each_and_three_tax_returns(system: System) -> None:
    office = system.office()
    # The adviser names the two people of the dossier.
    put = system.put(
        "scenario", f"/dossiers/{DOSSIER}/household", office.adviser, json={"persons": HOUSEHOLD}
    )
    assert put.status_code == 200, put.text
    household = system.get("scenario", f"/dossiers/{DOSSIER}/household", office.adviser)
    assert [p["name"] for p in household.json()["persons"]] == ["Jan de Vries", "Sanne de Vries"]

    # The admin's income scenario; the adviser starts it now on the mortgage.
    scenario_id = system.define_scenario(office, "hypotheek", items=INCOME, name="Inkomen")
    started = start_runs(system, office, DOSSIER, product(), scenario_id)
    assert started.status_code == 201, started.text
    assert started.json()["runs"][0]["status"] == "executed"

    # The client has five open action points, each saying whose and which period.
    points = _portal_shows(system, office, 5)
    assert {_whose(p) for p in points} == set(EXPECTED)
    assert all(p["status"] == "open" for p in points)
    instructions = {_whose(p): p["instructions"] for p in points}
    assert instructions[(None, "2023")] == "Alle pagina's, ook de lege"
    assert instructions[("partner", None)] is None

    # The adviser's dossier check: five documents, told apart the same way.
    documents = system.documents(office, DOSSIER)
    assert sorted(map(_whose, documents), key=str) == sorted(EXPECTED, key=str)
    assert all(d["action_point"]["status"] == "open" for d in documents)

    # Started once more, every request merges into its document (the same four parts) ...
    again = start_runs(system, office, DOSSIER, product(), scenario_id)
    assert again.status_code == 201, again.text
    # ... while the partner's January payslip, asked after it on the same dossier, is new.
    partner = {**product(), "person": {"role": "partner"}}
    manual = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={
            "dossier_id": DOSSIER,
            "subject": partner,
            "document_type": "loonstrook",
            "title": "Loonstrook",
            "period": "januari 2026",
            "instructions": "De strook van januari, met uw naam erop",
        },
    )
    assert manual.status_code == 201, manual.text
    points = _portal_shows(system, office, 6)
    assert ("partner", "januari 2026") in {_whose(p) for p in points}
    assert len(system.documents(office, DOSSIER)) == 6

    # The pages name them so: the client's and the adviser's.
    expected_names = [*EXPECTED.values(), "Loonstrook, partner, januari 2026"]
    with signed_in(system, office.token("client", dossiers=[DOSSIER])) as client:
        page = html.unescape(client.get(f"/app/dossiers/{DOSSIER}").text)
        for name in expected_names:
            assert f">{name}</h2>" in page, name
        assert "De strook van januari, met uw naam erop" in page
    with signed_in(system, office.token("adviser")) as adviser:
        page = html.unescape(adviser.get(f"/app/dossiers/{DOSSIER}").text)
        for name in expected_names:
            assert f"<h3>{name}</h3>" in page, name
        assert "Voor de klant: Alle pagina's, ook de lege" in page


def test_bad_periods_instructions_and_persons_are_refused_with_a_message(system: System) -> None:
    office = system.office()
    request = {"dossier_id": DOSSIER, "subject": product(), "document_type": "loonstrook"}
    refusals = [
        ("/document-requests", {**request, "period": "x" * 41}, "at most 40 characters"),
        ("/document-requests", {**request, "instructions": "x" * 1001}, "at most 1000"),
        (
            "/document-requests",
            {**request, "subject": {**product(), "person": {"role": "kind"}}},
            "'aanvrager', 'partner' or 'other'",
        ),
        (
            "/scenarios",
            {
                "name": "S",
                "scope": "hypotheek",
                "items": [{"document_type": "x", "period": "2024", "periods": ["2023"]}],
            },
            "not both",
        ),
    ]
    for path, body, message in refusals:
        headers = office.admin if path == "/scenarios" else office.adviser
        response = system.post("scenario", path, headers, json=body)
        assert response.status_code == 422, response.text
        assert message in response.text, response.text
    twins = {"persons": [{"role": "other", "name": "A"}, {"role": "other", "name": "B"}]}
    response = system.put("scenario", f"/dossiers/{DOSSIER}/household", office.adviser, json=twins)
    assert response.status_code == 422, response.text
    assert "its own id" in response.text


def test_a_document_list_with_a_bad_period_is_dead_lettered(system: System, kafka: Broker) -> None:
    office = system.office()

    def listed(reference: str, item: dict[str, Any]) -> dict[str, Any]:
        data = {"subject": product(), "reference": reference, "items": [item]}
        return cloud_event("DocumentListReceived", office.tenant, DOSSIER, data)

    key = f"{office.tenant}:{DOSSIER}"
    bad = {"document_type": "loonstrook", "period": "x" * 41}
    expanding = {"document_type": "loonstrook", "per_person": True}
    origins = [
        (topics.DOCUMENT_LISTS, *publish(kafka.bootstrap_servers, topics.DOCUMENT_LISTS, e, key))
        for e in (listed("lijst-1", bad), listed("lijst-2", expanding))
    ]

    letters = read_dead_letters(
        kafka.bootstrap_servers, topics.SCENARIO_DLQ, origins, expected=origins, timeout=30
    )
    assert "at most 40 characters" in letters[origins[0]]["reason"]
    assert "per_person and periods belong to scenario items" in letters[origins[1]]["reason"]
    # A good list with a period after them is taken: the consumer carried on.
    good = {"document_type": "loonstrook", "title": "Loonstrook", "period": "maart 2026"}
    publish(kafka.bootstrap_servers, topics.DOCUMENT_LISTS, listed("lijst-3", good), key)

    def taken() -> None:
        assert [_whose(d) for d in system.documents(office, DOSSIER)] == [(None, "maart 2026")]

    eventually(taken, timeout=30)
