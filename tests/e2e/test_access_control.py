"""Access control (SPEC section 4) over every endpoint of the three services.

Who may do what:
- admin: the scenario catalogue (define, change, delete; read) and document-type settings;
  may read runs and post document lists (the "service" caller of SPEC section 4 has no role
  of its own, so an office-level admin token stands in for it).
- adviser: reads the catalogue, starts and cancels runs, requests documents, posts document
  lists, works the dossier check (list, upload, copy, delete, action points) and may look at
  the client's portal.
- client: only the portal, uploads, and a document's versions and files, and only for the
  dossiers in its token.

Every wrong identity is refused: no or a malformed token, a bad signature or an expired token
is 401; a role that may not do it is 403; another office's or another client's resource is 404,
exactly as if it did not exist. Listings are per office: another office simply sees nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.support import Office, System, eventually, pdf_file, product, wait_until_caught_up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


PDF = pdf_file()
ROLES = ("admin", "adviser", "client")


@dataclass
class World:
    """Office A's resources that every call aims at, and a second office B."""

    system: System
    office: Office
    other: Office
    scenario_id: str = ""
    run_id: str = ""
    documents: dict[str, str] = field(default_factory=dict)  # by document type
    action_point_id: str = ""
    # One client for the few hundred calls: a new one per call costs more than the call.
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def ids(self) -> dict[str, str]:
        return {
            "scenario_id": self.scenario_id,
            "run_id": self.run_id,
            "dossier_id": "dossier-1",
            "document_id": self.documents["identiteitsbewijs"],
            "copy_target": self.documents["kopie_identiteitsbewijs"],
            "removable_document": self.documents["finale_kwijting"],
            "action_point_id": self.action_point_id,
            "code": "finale_kwijting",
        }

    def identity(self, role: str, office: Office | None = None) -> dict[str, str]:
        """The headers of ``role`` in ``office`` (A by default); a client of dossier-1."""
        office = office or self.office
        return office.client("dossier-1") if role == "client" else office.headers(role)


def scenario_body(world: World) -> dict[str, Any]:
    return {
        "name": "Zelfstandige",
        "scope": "hypotheek",
        "items": [{"document_type": "jaarcijfers"}],
    }


def run_body(world: World) -> dict[str, Any]:
    return {"dossier_id": "dossier-1", "subject": product(), "scenario_ids": [world.scenario_id]}


def request_body(world: World) -> dict[str, Any]:
    return {"dossier_id": "dossier-1", "subject": product(), "document_type": "bankafschrift"}


def list_body(world: World) -> dict[str, Any]:
    return {
        "dossier_id": "dossier-1",
        "subject": product(),
        "reference": f"lender-{uuid.uuid4().hex[:8]}",
        "items": [{"document_type": "taxatierapport"}],
    }


def household_body(world: World) -> dict[str, Any]:
    return {"persons": [{"role": "aanvrager", "name": "Jan"}, {"role": "partner", "name": "Els"}]}


def copy_body(world: World) -> dict[str, Any]:
    return {"source_document_id": world.documents["identiteitsbewijs"]}


def type_body(world: World) -> dict[str, Any]:
    return {"name": "Finale kwijting", "creates_action_point": False}


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: str
    roles: frozenset[str]
    ok: int
    # "id": addressed by an id of office A (another office gets 404); "dossier": a listing of
    # dossier-1 (another office sees its own, empty one); "scenario_ids": refers to office A's
    # scenario in the body (another office gets what an unknown scenario gets, 422);
    # "none": acts in the caller's own office only.
    addressed: str
    body: Callable[[World], dict[str, Any]] | None = None
    upload: bool = False
    # What another office's call returns, for listings: the list it sees.
    listing: Callable[[dict[str, Any]], list[Any]] | None = None

    @property
    def name(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def call(self, world: World, headers: dict[str, str], **ids: str) -> httpx.Response:
        path = self.path.format(**{**world.ids(), **ids})
        kwargs: dict[str, Any] = {}
        if self.body is not None:
            kwargs["json"] = self.body(world)
        if self.upload:
            kwargs["files"] = {"file": ("stuk.pdf", PDF, "application/pdf")}
        return world.http.request(
            self.method, world.system.url(self.service) + path, headers=headers, **kwargs
        )


def _e(
    service: str, method: str, path: str, roles: str, ok: int, addressed: str, **kw: Any
) -> Endpoint:
    return Endpoint(service, method, path, frozenset(roles.split()), ok, addressed, **kw)


ENDPOINTS = [
    _e("scenario", "POST", "/scenarios", "admin", 201, "none", body=scenario_body),
    _e(
        "scenario",
        "GET",
        "/scenarios?scope=hypotheek",
        "admin adviser",
        200,
        "list",
        listing=lambda body: body["scenarios"],
    ),
    _e("scenario", "GET", "/scenarios/{scenario_id}", "admin adviser", 200, "id"),
    _e("scenario", "PUT", "/scenarios/{scenario_id}", "admin", 200, "id", body=scenario_body),
    _e("scenario", "POST", "/scenario-runs", "adviser", 201, "scenario_ids", body=run_body),
    _e("scenario", "GET", "/scenario-runs/{run_id}", "admin adviser", 200, "id"),
    _e("scenario", "DELETE", "/scenario-runs/{run_id}", "adviser", 204, "id"),
    _e("scenario", "POST", "/document-requests", "adviser", 201, "none", body=request_body),
    _e("scenario", "POST", "/document-lists", "admin adviser", 201, "none", body=list_body),
    _e(
        "scenario",
        "PUT",
        "/dossiers/{dossier_id}/household",
        "adviser",
        200,
        "none",
        body=household_body,
    ),
    _e(
        "scenario",
        "GET",
        "/dossiers/{dossier_id}/household",
        "adviser",
        200,
        "dossier",
        listing=lambda body: body["persons"],
    ),
    _e("scenario", "DELETE", "/scenarios/{scenario_id}", "admin", 204, "id"),
    _e("dossiercontrole", "PUT", "/document-types/{code}", "admin", 200, "none", body=type_body),
    _e(
        "dossiercontrole",
        "GET",
        "/document-types",
        "admin adviser",
        200,
        "list",
        listing=lambda body: body["document_types"],
    ),
    _e(
        "dossiercontrole",
        "GET",
        "/dossiers/{dossier_id}/documents",
        "adviser",
        200,
        "dossier",
        listing=lambda body: body["documents"],
    ),
    _e(
        "dossiercontrole",
        "POST",
        "/documents/{document_id}/upload",
        "adviser client",
        200,
        "id",
        upload=True,
    ),
    # After the upload above: the allowed roles find a file (SPEC section 7).
    _e("dossiercontrole", "GET", "/documents/{document_id}/versions", "adviser client", 200, "id"),
    _e("dossiercontrole", "GET", "/documents/{document_id}/file", "adviser client", 200, "id"),
    _e(
        "dossiercontrole",
        "POST",
        "/documents/{copy_target}/copy",
        "adviser",
        200,
        "id",
        body=copy_body,
    ),
    _e("dossiercontrole", "DELETE", "/documents/{removable_document}", "adviser", 204, "id"),
    _e(
        "dossiercontrole",
        "GET",
        "/dossiers/{dossier_id}/action-points",
        "adviser",
        200,
        "dossier",
        listing=lambda body: body["action_points"],
    ),
    _e("dossiercontrole", "DELETE", "/action-points/{action_point_id}", "adviser", 204, "id"),
    _e(
        "portal",
        "GET",
        "/portal/dossiers/{dossier_id}/action-points",
        "adviser client",
        200,
        "dossier",
        listing=lambda body: body["action_points"],
    ),
]


@pytest.fixture(scope="module")
def world(system: System) -> Iterator[World]:
    office = system.office()
    world = World(system, office, system.office())
    # The admin defines a scenario; the adviser schedules it for next week on dossier-1.
    world.scenario_id = system.define_scenario(office, "hypotheek", "identiteitsbewijs")
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={
            "dossier_id": "dossier-1",
            "subject": product(),
            "scenario_ids": [world.scenario_id],
            "execute_on": (date.today() + timedelta(days=7)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    world.run_id = response.json()["runs"][0]["run_id"]
    # Four requested documents in dossier-1, each with an open action point.
    documents_now = system.define_scenario(
        office,
        "hypotheek",
        "identiteitsbewijs",
        "kopie_identiteitsbewijs",
        "finale_kwijting",
        "werkgeversverklaring",
    )
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": "dossier-1", "subject": product(), "scenario_ids": [documents_now]},
    )
    assert response.status_code == 201, response.text

    def four_on_the_portal() -> list[dict[str, Any]]:
        points = system.portal(office, "dossier-1")["action_points"]
        assert len(points) == 4, points
        return points

    for point in eventually(four_on_the_portal, timeout=20):
        world.documents[point["document_type"]] = point["document_id"]
        if point["document_type"] == "werkgeversverklaring":
            world.action_point_id = point["action_point_id"]
    with world.http:
        yield world


# --- the wrong identities ------------------------------------------------------------------------


def malformed_headers(world: World) -> dict[str, dict[str, str]]:
    secret = world.system.secret
    good = world.office.token("adviser")
    claims = {"sub": "x", "tenant": world.office.tenant, "role": "adviser"}
    exp = int(time.time()) + 600
    return {
        "empty": {"Authorization": ""},
        "scheme only": {"Authorization": "Bearer"},
        "basic auth": {"Authorization": "Basic YWR2aXNldXI6Z2VoZWlt"},
        "token without scheme": {"Authorization": good},
        "not a jwt": {"Authorization": "Bearer not-a-jwt"},
        "truncated": {"Authorization": f"Bearer {good[:-10]}"},
        "alg none": {"Authorization": "Bearer " + jwt.encode({**claims, "exp": exp}, None, "none")},
        "no tenant": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "x", "role": "adviser", "exp": exp}, secret, "HS256")
        },
        "no exp": {"Authorization": "Bearer " + jwt.encode(claims, secret, "HS256")},
        "unknown role": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "role": "superuser", "exp": exp}, secret, "HS256")
        },
        "empty tenant": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "tenant": "", "exp": exp}, secret, "HS256")
        },
        # An office id no event can carry: its commands would be stored but never published.
        "tenant too long": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "tenant": "k" * 201, "exp": exp}, secret, "HS256")
        },
        # An office id that runs into another's record key and aggregate names.
        "tenant with a colon": {
            "Authorization": "Bearer "
            + jwt.encode(
                {**claims, "tenant": f"{world.office.tenant}:eu", "exp": exp}, secret, "HS256"
            )
        },
        "blank tenant": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "tenant": "   ", "exp": exp}, secret, "HS256")
        },
        "empty sub": {
            "Authorization": "Bearer "
            + jwt.encode({**claims, "sub": "", "exp": exp}, secret, "HS256")
        },
        "dossiers not a list": {
            "Authorization": "Bearer "
            + jwt.encode(
                {**claims, "role": "client", "dossiers": "dossier-1", "exp": exp}, secret, "HS256"
            )
        },
    }


def bad_signature(world: World) -> dict[str, str]:
    forged = Office(secret="not-the-secret-" + uuid.uuid4().hex, tenant=world.office.tenant)
    return forged.headers("admin")


def expired(world: World, role: str) -> dict[str, str]:
    dossiers = ["dossier-1"] if role == "client" else None
    token = world.office.token(role, dossiers=dossiers, ttl_seconds=-60)
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response: httpx.Response, what: str) -> None:
    assert response.status_code == 401, (what, response.status_code, response.text)
    assert response.headers.get("www-authenticate") == "Bearer", what


CASES = [
    pytest.param(endpoint, case, id=f"{endpoint.name} | {case}")
    for endpoint in ENDPOINTS
    for case in (
        "no token",
        "malformed",
        "bad signature",
        "expired",
        *(("wrong role",) if set(ROLES) - endpoint.roles else ()),
        *(("other office",) if endpoint.addressed != "none" else ()),
        *(("other client",) if "client" in endpoint.roles else ()),
    )
]


@pytest.mark.parametrize(("endpoint", "case"), CASES)
def test_every_wrong_identity_is_refused(world: World, endpoint: Endpoint, case: str) -> None:
    allowed = sorted(endpoint.roles)
    if case == "no token":
        assert_unauthorized(endpoint.call(world, {}), case)
    elif case == "malformed":
        for what, headers in malformed_headers(world).items():
            assert_unauthorized(endpoint.call(world, headers), what)
    elif case == "bad signature":
        assert_unauthorized(endpoint.call(world, bad_signature(world)), case)
    elif case == "expired":
        for role in allowed:
            assert_unauthorized(endpoint.call(world, expired(world, role)), f"expired {role}")
    elif case == "wrong role":
        for role in sorted(set(ROLES) - endpoint.roles):
            response = endpoint.call(world, world.identity(role))
            assert response.status_code == 403, (role, response.status_code, response.text)
    elif case == "other office":
        for role in allowed:
            response = endpoint.call(world, world.identity(role, world.other))
            if endpoint.addressed == "id":
                # Exactly what the office's own staff get for an id that does not exist.
                missing = endpoint.call(world, world.identity(role), **_unknown_ids())
                assert response.status_code == missing.status_code == 404, (
                    role,
                    response.text,
                    missing.text,
                )
            elif endpoint.addressed == "scenario_ids":
                assert response.status_code == 422, (role, response.text)
            else:
                assert response.status_code == 200, (role, response.text)
                assert endpoint.listing is not None
                assert endpoint.listing(response.json()) == [], (role, response.text)
    elif case == "other client":
        for stranger in (world.office.client("dossier-2"), world.office.client()):
            response = endpoint.call(world, stranger)
            assert response.status_code == 404, response.text
    else:
        raise AssertionError(case)


def _unknown_ids() -> dict[str, str]:
    return {
        key: str(uuid.uuid4())
        for key in (
            "scenario_id",
            "run_id",
            "document_id",
            "copy_target",
            "removable_document",
            "action_point_id",
        )
    }


def test_refused_calls_changed_nothing(world: World) -> None:
    system, office = world.system, world.office
    # The scenario and the scheduled run are as the admin and the adviser left them.
    response = system.get("scenario", f"/scenarios/{world.scenario_id}", office.admin)
    assert response.status_code == 200 and response.json()["name"] == "Scenario"
    response = system.get("scenario", "/scenarios", office.admin)
    assert len(response.json()["scenarios"]) == 2
    response = system.get("scenario", f"/scenario-runs/{world.run_id}", office.adviser)
    assert response.json()["status"] == "scheduled"
    # No document type was configured, no document uploaded, copied or removed.
    listed = system.get("dossiercontrole", "/document-types", office.admin).json()
    assert listed["document_types"] == []
    documents = system.documents(office, "dossier-1")
    assert len(documents) == 4
    assert {(d["status"], d["action_point"]["status"]) for d in documents} == {
        ("requested", "open")
    }


def test_a_document_list_reference_belongs_to_one_office(world: World) -> None:
    system = world.system
    body = list_body(world)
    first = system.post("scenario", "/document-lists", world.office.adviser, json=body)
    assert (first.status_code, first.json()["created"]) == (201, True)
    # The same reference in another office is that office's own list, not ours.
    other = system.post("scenario", "/document-lists", world.other.adviser, json=body)
    assert (other.status_code, other.json()["created"]) == (201, True)
    assert other.json()["document_list_id"] != first.json()["document_list_id"]
    again = system.post("scenario", "/document-lists", world.office.adviser, json=body)
    assert (again.status_code, again.json()["created"]) == (201, False)


def test_every_allowed_role_gets_through(world: World) -> None:
    """The other half of the table: the right identity is served (deletions go last)."""
    for endpoint in sorted(ENDPOINTS, key=lambda e: e.method == "DELETE"):
        for role in sorted(endpoint.roles):
            response = endpoint.call(world, world.identity(role))
            assert response.status_code == endpoint.ok, (endpoint.name, role, response.text)


@pytest.mark.parametrize("service", ["scenario", "dossiercontrole", "portal"])
def test_health_and_metrics_answer_without_a_token(system: System, service: str) -> None:
    health = system.get(service, "/health", {})
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"
    metrics = system.get(service, "/metrics", {})
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE actiepunten_events_published" in metrics.text
