"""Stories of long lists: every list of the three services comes in pages.

A list takes `limit` (default 100, at most 500) and the opaque `cursor` of the page before; it
answers `next_cursor`, null on the last page. The portal's progress counts every action point
of the dossier, whatever the page.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support import Office, System, eventually, pdf_file, product, wait_until_caught_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


PDF = pdf_file()


def walk(
    system: System, service: str, path: str, headers: dict[str, str], field: str, limit: int
) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_cursor` until it is null."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = system.get(service, path, headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body[field])
        assert len(pages) < 50, "the pages never end"
        if body["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": body["next_cursor"]}


def sizes(pages: list[list[dict[str, Any]]]) -> list[int]:
    return [len(page) for page in pages]


def test_the_scenario_catalogue_comes_in_pages(system: System) -> None:
    office = system.office()
    defined = {
        system.define_scenario(office, "hypotheek", "identiteitsbewijs", name=f"Scenario {n}")
        for n in range(7)
    }

    pages = walk(system, "scenario", "/scenarios", office.adviser, "scenarios", limit=3)

    assert sizes(pages) == [3, 3, 1]
    assert {s["scenario_id"] for page in pages for s in page} == defined
    # A filtered list pages the same way.
    pages = walk(
        system, "scenario", "/scenarios?scope=hypotheek", office.adviser, "scenarios", limit=7
    )
    assert sizes(pages) == [7]


def test_document_types_come_in_pages(system: System) -> None:
    office = system.office()
    for code in ("bankafschrift", "identiteitsbewijs", "jaaropgaaf", "loonstrook", "taxatie"):
        response = system.put(
            "dossiercontrole",
            f"/document-types/{code}",
            office.admin,
            json={"name": code.title(), "creates_action_point": True},
        )
        assert response.status_code == 200, response.text

    pages = walk(
        system, "dossiercontrole", "/document-types", office.admin, "document_types", limit=2
    )

    assert sizes(pages) == [2, 2, 1]
    assert [t["code"] for page in pages for t in page] == [
        "bankafschrift",
        "identiteitsbewijs",
        "jaaropgaaf",
        "loonstrook",
        "taxatie",
    ]


def a_dossier_with_seven_requests(system: System) -> Office:
    office = system.office()
    for n in range(7):
        response = system.post(
            "scenario",
            "/document-requests",
            office.adviser,
            json={"dossier_id": "dossier-1", "subject": product(), "document_type": f"stuk_{n}"},
        )
        assert response.status_code == 201, response.text

    def arrived() -> None:
        assert len(system.portal_all(office, "dossier-1")) == 7

    eventually(arrived, timeout=60, interval=0.5)
    return office


def test_the_dossier_check_and_the_portal_come_in_pages(system: System) -> None:
    office = a_dossier_with_seven_requests(system)
    documents = walk(
        system,
        "dossiercontrole",
        "/dossiers/dossier-1/documents",
        office.adviser,
        "documents",
        limit=3,
    )
    assert sizes(documents) == [3, 3, 1]
    assert len({d["document_id"] for page in documents for d in page}) == 7

    # The client uploads one document; the action points are listed in pages.
    first = documents[0][0]
    upload = system.post(
        "dossiercontrole",
        f"/documents/{first['document_id']}/upload",
        office.client("dossier-1"),
        files={"file": ("loonstrook.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    points = walk(
        system,
        "dossiercontrole",
        "/dossiers/dossier-1/action-points",
        office.adviser,
        "action_points",
        limit=3,
    )
    assert sizes(points) == [3, 3, 1]
    assert len({p["action_point_id"] for page in points for p in page}) == 7

    # On the portal every page shows the progress of the whole dossier.
    def progress_of_the_whole_dossier() -> list[list[dict[str, Any]]]:
        pages: list[list[dict[str, Any]]] = []
        params: dict[str, Any] = {"limit": 4}
        while True:
            response = system.get(
                "portal",
                "/portal/dossiers/dossier-1/action-points",
                office.client("dossier-1"),
                params=params,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["progress"] == {"open": 6, "completed": 1, "percent": 14}, body
            pages.append(body["action_points"])
            if body["next_cursor"] is None:
                return pages
            params = {"limit": 4, "cursor": body["next_cursor"]}

    portal = eventually(progress_of_the_whole_dossier, timeout=30, interval=0.5)
    assert sizes(portal) == [4, 3]
    assert [p["action_point_id"] for page in portal for p in page] == [
        p["action_point_id"] for p in system.portal_all(office, "dossier-1")
    ]


LISTS = [
    ("scenario", "/scenarios", "adviser"),
    ("dossiercontrole", "/document-types", "admin"),
    ("dossiercontrole", "/dossiers/dossier-1/documents", "adviser"),
    ("dossiercontrole", "/dossiers/dossier-1/action-points", "adviser"),
    ("portal", "/portal/dossiers/dossier-1/action-points", "client"),
]


@pytest.mark.parametrize(("service", "path", "role"), LISTS)
def test_a_bad_limit_or_cursor_is_refused(
    system: System, service: str, path: str, role: str
) -> None:
    office = system.office()
    headers = office.client("dossier-1") if role == "client" else office.headers(role)

    for limit in (0, -1, 501, "many"):
        response = system.get(service, path, headers, params={"limit": limit})
        assert response.status_code == 422, (limit, response.text)
    assert system.get(service, path, headers, params={"limit": 500}).status_code == 200
    # Not base64, "[]", {"a":1}, too long, and a well-formed cursor whose key holds a NUL.
    key = ["portal-action-points", "\u0000", "x"]
    nul = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    for cursor in ("not-a-cursor", "W10", "eyJhIjoxfQ", "x" * 2000, nul):
        response = system.get(service, path, headers, params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert "cursor" in response.text


def test_a_cursor_of_another_list_is_refused(system: System) -> None:
    office = a_dossier_with_seven_requests(system)
    first = system.get(
        "dossiercontrole", "/dossiers/dossier-1/documents", office.adviser, params={"limit": 2}
    ).json()
    assert first["next_cursor"]

    response = system.get(
        "dossiercontrole",
        "/dossiers/dossier-1/action-points",
        office.adviser,
        params={"cursor": first["next_cursor"]},
    )

    assert response.status_code == 422 and "cursor" in response.text
