"""Stories of what the API answers when it refuses: each refusal is a status that the service's
own OpenAPI document lists for that operation, with the documented body. Found by the fuzzer
(tests/fuzz); each story is one case it found, as a plain request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import System, product

pytestmark = pytest.mark.e2e


def documented(system: System, service: str, method: str, path: str) -> dict[str, Any]:
    """The responses the service's OpenAPI document lists for one operation."""
    document = system.get(service, "/openapi.json", {}).json()
    return document["paths"][path][method.lower()]["responses"]  # type: ignore[no-any-return]


def assert_documented_error(
    system: System, service: str, method: str, path: str, response: httpx.Response
) -> None:
    responses = documented(system, service, method, path)
    status = str(response.status_code)
    assert status in responses, f"{status} not documented for {method} {path}: {list(responses)}"
    schema = responses[status]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, schema
    detail = response.json()["detail"]
    assert isinstance(detail, str) or all({"loc", "msg", "type"} <= set(i) for i in detail)


def test_an_adviser_may_not_define_a_scenario_and_the_api_says_so(system: System) -> None:
    office = system.office()
    body = {"name": "Hypotheek", "scope": "hypotheek", "items": [{"document_type": "paspoort"}]}
    response = system.post("scenario", "/scenarios", office.adviser, json=body)
    assert response.status_code == 403
    assert_documented_error(system, "scenario", "POST", "/scenarios", response)


def test_a_call_without_a_token_gets_the_documented_401(system: System) -> None:
    response = system.get("dossiercontrole", "/dossiers/d1/documents", {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert_documented_error(
        system, "dossiercontrole", "GET", "/dossiers/{dossier_id}/documents", response
    )


def test_an_unknown_scenario_run_is_a_documented_404(system: System) -> None:
    office = system.office()
    path = "/scenario-runs/e3e70682-c209-1cac-a29f-6fbed82c07cd"
    response = system.delete("scenario", path, office.adviser)
    assert response.status_code == 404
    assert_documented_error(system, "scenario", "DELETE", "/scenario-runs/{run_id}", response)


def test_a_client_may_not_read_another_dossier_in_the_portal(system: System) -> None:
    office = system.office()
    path = "/portal/dossiers/dossier-2/action-points"
    response = system.get("portal", path, office.client("dossier-1"))
    assert response.status_code == 404
    assert_documented_error(
        system, "portal", "GET", "/portal/dossiers/{dossier_id}/action-points", response
    )


def test_a_rule_of_the_domain_answers_422_with_a_message_in_the_documented_body(
    system: System,
) -> None:
    office = system.office()
    body = {
        "dossier_id": "d1",
        "subject": product(),
        "scenario_ids": ["e3e70682-c209-1cac-a29f-6fbed82c07cd"],
        "execute_at": "2999-01-01T10:00:00+00:00",
        "execute_on": "2999-01-01",
    }
    response = system.post("scenario", "/scenario-runs", office.adviser, json=body)
    assert response.status_code == 422
    assert "not both" in response.json()["detail"]
    assert_documented_error(system, "scenario", "POST", "/scenario-runs", response)


def test_a_body_that_is_not_utf8_json_is_a_documented_400(system: System) -> None:
    office = system.office()
    response = system.post(
        "scenario",
        "/document-requests",
        {**office.adviser, "content-type": "application/json"},
        content=b"\x80\x81 not utf-8",
    )
    assert response.status_code == 400
    assert_documented_error(system, "scenario", "POST", "/document-requests", response)


def test_an_upload_of_an_unknown_file_type_is_a_documented_415(system: System) -> None:
    office = system.office()
    path = "/documents/e3e70682-c209-1cac-a29f-6fbed82c07cd/upload"
    files = {"file": ("notes.txt", b"just text", "text/plain")}
    response = system.post("dossiercontrole", path, office.adviser, files=files)
    assert response.status_code == 415
    assert_documented_error(
        system, "dossiercontrole", "POST", "/documents/{document_id}/upload", response
    )


@pytest.mark.parametrize("number", [0, 1])
def test_a_number_is_not_taken_for_a_yes_or_no(system: System, number: int) -> None:
    """The documents say boolean: 0 and 1 are refused rather than read as false and true."""
    office = system.office()
    request = {
        "dossier_id": "d1",
        "subject": product(),
        "document_type": "loonstrook",
        "action_point": number,
    }
    response = system.post("scenario", "/document-requests", office.adviser, json=request)
    assert response.status_code == 422, response.text
    document_list = {
        "dossier_id": "d1",
        "subject": product(),
        "reference": "lijst-1",
        "items": [{"document_type": "loonstrook", "action_point": number}],
    }
    response = system.post("scenario", "/document-lists", office.admin, json=document_list)
    assert response.status_code == 422, response.text
    setting = {"name": "Loonstrook", "creates_action_point": number}
    response = system.put(
        "dossiercontrole", "/document-types/loonstrook", office.admin, json=setting
    )
    assert response.status_code == 422, response.text


def test_a_number_is_not_taken_for_an_execution_moment(system: System) -> None:
    """0 would be read as 1970 (or midnight), which no adviser means."""
    office = system.office()
    for field in ("execute_at", "execute_on", "execute_at_time"):
        body = {
            "dossier_id": "d1",
            "subject": product(),
            "scenario_ids": ["e3e70682-c209-1cac-a29f-6fbed82c07cd"],
            field: 4102444800,
        }
        response = system.post("scenario", "/scenario-runs", office.adviser, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field], response.text


def test_metrics_are_documented_as_the_text_they_are(system: System) -> None:
    response = system.get("portal", "/metrics", {})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "text/plain" in documented(system, "portal", "GET", "/metrics")["200"]["content"]


def test_health_is_documented(system: System) -> None:
    response = system.get("scenario", "/health", {})
    assert (response.json()["status"], response.json()["service"]) == ("ok", "scenario")
    schema = documented(system, "scenario", "GET", "/health")["200"]["content"]
    assert schema["application/json"]["schema"] == {"$ref": "#/components/schemas/HealthOut"}


def test_a_method_the_path_does_not_have_names_every_method_it_has(system: System) -> None:
    office = system.office()
    path = "/scenarios/e3e70682-c209-1cac-a29f-6fbed82c07cd"
    response = system._http.request("OPTIONS", system.url("scenario") + path, headers=office.admin)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}


def test_a_trigger_offset_written_as_text_is_refused(system: System) -> None:
    office = system.office()
    body = {
        "name": "Afspraak",
        "scope": "afspraak",
        "items": [{"document_type": "paspoort"}],
        "trigger": {"event": "appointment_scheduled", "offset_days": "-2"},
    }
    response = system.post("scenario", "/scenarios", office.admin, json=body)
    assert response.status_code == 422, response.text
    body["trigger"] = {"event": "appointment_scheduled", "offset_days": -2}
    assert system.post("scenario", "/scenarios", office.admin, json=body).status_code == 201


def test_the_probes_are_documented_with_their_answers(system: System) -> None:
    for probe, model in (("/livez", "HealthOut"), ("/readyz", "ReadyOut")):
        assert system.get("dossiercontrole", probe, {}).status_code == 200
        responses = documented(system, "dossiercontrole", "GET", probe)
        schema = responses["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}, (probe, schema)
    assert "503" in documented(system, "dossiercontrole", "GET", "/readyz")


@pytest.mark.parametrize("dossier_id", ["a%00b", "tab%09here"])
def test_a_dossier_id_with_a_control_character_is_refused_by_the_portal(
    system: System, dossier_id: str
) -> None:
    """Found by the fuzzer on PostgreSQL: a NUL in the dossier id was a 500."""
    office = system.office()
    response = system.get("portal", f"/portal/dossiers/{dossier_id}/action-points", office.adviser)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "dossier_id"]
