"""NUL and other control characters in ids, names and titles are refused at the door with 422,
on SQLite and on PostgreSQL alike (PostgreSQL cannot store NUL; SQLite would have kept it), and
a read that meets one never answers 5xx. The same types refuse them on Kafka (dead letter)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.support import System, product

pytestmark = pytest.mark.e2e


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["detail"] if e["loc"][-1] == field]
    assert "control characters" in error["msg"], error


@pytest.mark.parametrize("bad", ["dossier\x00-1", "dossier\x1b[2J", "dossier\x7f"])
def test_an_adviser_cannot_request_a_document_for_a_dossier_id_with_control_characters(
    system: System, bad: str
) -> None:
    office = system.office()
    body = {"dossier_id": bad, "subject": product(), "document_type": "loonstrook"}

    _refused(system.post("scenario", "/document-requests", office.adviser, json=body), "dossier_id")

    # Nothing was requested: the same request with a clean id goes through.
    body["dossier_id"] = "dossier-1"
    response = system.post("scenario", "/document-requests", office.adviser, json=body)
    assert response.status_code == 201, response.text


def test_titles_names_and_references_with_a_nul_are_refused(system: System) -> None:
    office = system.office()
    nul = "Loonstrook\x00januari"

    request = {
        "dossier_id": "dossier-1",
        "subject": product(),
        "document_type": "loonstrook",
        "title": nul,
    }
    _refused(system.post("scenario", "/document-requests", office.adviser, json=request), "title")

    listing = {
        "dossier_id": "dossier-1",
        "subject": product(),
        "reference": "lijst\x00-1",
        "items": [{"document_type": "loonstrook"}],
    }
    _refused(system.post("scenario", "/document-lists", office.adviser, json=listing), "reference")

    scenario = {"name": "Hypotheek", "scope": "hypotheek", "items": [{"document_type": "x"}]}
    scenario["items"] = [{"document_type": "loonstrook", "title": nul}]
    _refused(system.post("scenario", "/scenarios", office.admin, json=scenario), "title")
    scenario = {"name": "Hypo\x00theek", "scope": "hypotheek", "items": [{"document_type": "x"}]}
    _refused(system.post("scenario", "/scenarios", office.admin, json=scenario), "name")

    scenario_id = system.define_scenario(office, "hypotheek", "loonstrook")
    runs = {"dossier_id": "dossier\x00", "subject": product(), "scenario_ids": [scenario_id]}
    _refused(system.post("scenario", "/scenario-runs", office.adviser, json=runs), "dossier_id")

    configured = {"name": "Loon\x00strook", "creates_action_point": True}
    path = "/document-types/loonstrook"
    _refused(system.put("dossiercontrole", path, office.admin, json=configured), "name")


def test_reading_a_dossier_id_with_a_nul_never_fails_the_service(system: System) -> None:
    office = system.office()
    bad = quote("dossier\x00-1", safe="")
    for service, path in [
        ("portal", f"/portal/dossiers/{bad}/action-points"),
        ("dossiercontrole", f"/dossiers/{bad}/documents"),
        ("dossiercontrole", f"/dossiers/{bad}/action-points"),
    ]:
        response = system.get(service, path, office.adviser)
        assert response.status_code in (200, 404, 422), (path, response.text)
