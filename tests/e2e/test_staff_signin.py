"""Staff sign in through the office's OpenID provider (SPEC section 10), end to end: the
session's system trusts a real provider started by the tests (``tests/oidc.py``), and a browser
is played at the HTTP level (httpx following the redirects and keeping cookies, as a browser
does; the provider's login page is a form like any other). Then the same adviser calls an API
with the token the provider gave: the services check it against the provider's keys."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.conftest import OIDC_CLIENT_ID
from tests.oidc import provider_tokens, set_user
from tests.support import Office, System

pytestmark = pytest.mark.e2e


def staff_member(issuer: str, office: Office, role: str, name: str) -> str:
    """Somebody the office's provider knows, with their role and office as claims."""
    sub = f"{name}-{office.tenant}"
    set_user(issuer, sub, role=role, tenant=office.tenant, email=f"{sub}@kantoor.example")
    return sub


def sign_in_at_provider(system: System, browser: httpx.Client, sub: str) -> httpx.Response:
    """The sign-in page's staff link, the provider's form with the person's name, and back."""
    signin_page = browser.get("/app/signin", params={"next": "/app/"})
    assert 'href="/app/signin/staff' in signin_page.text
    at_provider = browser.get("/app/signin/staff", params={"next": "/app/"})
    assert at_provider.status_code == 200, at_provider.text
    assert "Authorize" in at_provider.text
    check_pkce(system, browser, at_provider.url)
    return browser.post(at_provider.url, data={"sub": sub})


def check_pkce(system: System, browser: httpx.Client, authorize: httpx.URL) -> None:
    """The request carries an S256 challenge of the verifier that only the portal's pending
    cookie holds (the mock provider does not check PKCE itself, so the test does)."""
    query = parse_qs(urlsplit(str(authorize)).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [f"{system.url('portal')}/app/signin/staff/callback"]
    pending = jwt.decode(browser.cookies["actiepunten_oidc"], system.secret, algorithms=["HS256"])
    digest = hashlib.sha256(pending["verifier"].encode()).digest()
    assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert query["state"] == [pending["state"]]


def test_an_adviser_signs_in_through_the_offices_provider_and_calls_an_api(
    system: System, oidc_issuer: str
) -> None:
    office = system.office()
    sub = staff_member(oidc_issuer, office, "adviser", "anna")
    with httpx.Client(base_url=system.url("portal"), timeout=15, follow_redirects=True) as browser:
        # Anna opens the staff sign-in, signs in at the provider and comes back signed in.
        back = sign_in_at_provider(system, browser, sub)
        assert back.status_code == 200, back.text
        assert 'http-equiv="refresh"' in back.text  # on to /app/ from our own origin
        work_queue = browser.get("/app/")
        assert work_queue.status_code == 200, work_queue.text
        assert f"Werkvoorraad van {office.tenant}" in work_queue.text
        assert sub in work_queue.text  # who is signed in, in the page header
    # The provider's token for the same adviser opens the scenario API of her office.
    system.define_scenario(office, "hypotheek", "identiteitsbewijs", name="Hypotheek")
    token = provider_tokens(oidc_issuer, OIDC_CLIENT_ID, sub)["id_token"]
    scenarios = system.get("scenario", "/scenarios", {"Authorization": f"Bearer {token}"})
    assert scenarios.status_code == 200, scenarios.text
    assert [s["name"] for s in scenarios.json()["scenarios"]] == ["Hypotheek"]


def test_a_token_the_provider_made_for_another_application_is_refused(
    system: System, oidc_issuer: str
) -> None:
    office = system.office()
    sub = staff_member(oidc_issuer, office, "adviser", "bram")
    token = provider_tokens(oidc_issuer, "another-application", sub)["id_token"]

    answer = system.get("scenario", "/scenarios", {"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
    assert answer.json() == {"detail": "invalid token: Audience doesn't match"}


def test_a_client_cannot_sign_in_as_staff(system: System, oidc_issuer: str) -> None:
    office = system.office()
    sub = staff_member(oidc_issuer, office, "client", "klant")
    with httpx.Client(base_url=system.url("portal"), timeout=15, follow_redirects=True) as browser:
        answer = sign_in_at_provider(system, browser, sub)
        assert answer.status_code == 403
        assert "Alleen medewerkers" in answer.text
        assert browser.get("/app/").status_code == 401


def test_a_callback_this_browser_did_not_start_signs_nobody_in(
    system: System, oidc_issuer: str
) -> None:
    office = system.office()
    sub = staff_member(oidc_issuer, office, "admin", "carla")
    with httpx.Client(base_url=system.url("portal"), timeout=15) as started:
        to_provider = started.get("/app/signin/staff")
        assert to_provider.status_code == 303
    # Somebody else's browser arrives with that sign-in's code: no pending cookie of its own.
    with httpx.Client(base_url=system.url("portal"), timeout=15) as other:
        at_provider = other.get(to_provider.headers["location"])
        back = other.post(at_provider.url, data={"sub": sub}).headers["location"]
        answer = other.get(back)
        assert answer.status_code == 401
        assert "Aanmelden mislukt" in answer.text
        assert "actiepunten_sessie" not in answer.cookies
