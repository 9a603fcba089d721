"""The APIs take the office's OpenID provider's tokens (SPEC section 10), checked against a real
provider started here (``tests/oidc.py``): its discovery document and JWKS fetched over HTTP,
its RS256 tokens got through the authorization code flow. An endpoint guarded as every API
endpoint is (``servicekit.auth.require``) answers as the services do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from servicekit.auth import Identity, issue_token, require
from servicekit.oidc import OidcSettings
from tests.oidc import provider, provider_tokens, set_user

SECRET = "a-test-secret-of-at-least-thirty-two-bytes!"
CLIENT_ID = "actiepunten"


def api_trusting(issuer: str) -> TestClient:
    """An API whose settings name ``issuer`` as the office's provider, audience our client."""
    app = FastAPI()
    app.state.settings = SimpleNamespace(
        jwt_secret=SECRET, oidc=OidcSettings(issuer, CLIENT_ID, audience=CLIENT_ID)
    )

    @app.get("/scenarios")
    def scenarios(who: Annotated[Identity, Depends(require("admin", "adviser"))]) -> dict[str, str]:
        return {"tenant": who.tenant, "actor": who.actor}

    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with provider() as url:
        set_user(url, "jan", role="adviser", tenant="kantoor-oidc", email="jan@example.org")
        yield url


def test_an_adviser_calls_the_api_with_the_providers_token(issuer: str) -> None:
    # Jan signs in at the office's provider; the token it gives is for our client.
    token = provider_tokens(issuer, CLIENT_ID, "jan")["id_token"]

    answer = api_trusting(issuer).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"tenant": "kantoor-oidc", "actor": "adviser:jan"}


def test_platform_services_keep_their_hs256_tokens_beside_the_provider(issuer: str) -> None:
    token = issue_token(SECRET, sub="platform", tenant="kantoor-oidc", role="admin")

    assert api_trusting(issuer).get("/scenarios", headers=bearer(token)).status_code == 200


def test_a_token_for_another_application_is_refused(issuer: str) -> None:
    token = provider_tokens(issuer, "another-app", "jan")["id_token"]

    answer = api_trusting(issuer).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json() == {"detail": "invalid token: Audience doesn't match"}


def test_a_token_naming_another_issuer_is_refused(issuer: str) -> None:
    # Signed with the same key, but the provider named itself by another host name.
    token = provider_tokens(issuer, CLIENT_ID, "jan", token_host="127.0.0.1")["id_token"]

    answer = api_trusting(issuer).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json() == {"detail": "invalid token: Invalid issuer"}


def test_a_token_of_another_provider_is_refused(issuer: str) -> None:
    with provider() as other:
        set_user(other, "jan", role="adviser", tenant="kantoor-oidc")
        token = provider_tokens(other, CLIENT_ID, "jan")["id_token"]

    answer = api_trusting(issuer).get("/scenarios", headers=bearer(token))

    # (The mock names every instance's key alike, so it is the signature that fails.)
    assert answer.status_code == 401
    assert answer.json()["detail"] in {
        "invalid token: Signature verification failed",
        "invalid token: signed with a key the issuer does not publish",
    }


def test_an_expired_token_is_refused() -> None:
    with provider(lifetime=timedelta(minutes=-5)) as expired:
        set_user(expired, "jan", role="adviser", tenant="kantoor-oidc")
        token = provider_tokens(expired, CLIENT_ID, "jan")["id_token"]

        answer = api_trusting(expired).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json() == {"detail": "token expired"}


def test_a_token_that_lives_longer_than_twelve_hours_is_refused() -> None:
    with provider(lifetime=timedelta(hours=13)) as lenient:
        set_user(lenient, "jan", role="adviser", tenant="kantoor-oidc")
        token = provider_tokens(lenient, CLIENT_ID, "jan")["id_token"]

        answer = api_trusting(lenient).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json() == {
        "detail": "invalid token: token lives 46800 s, more than 43200 s allowed"
    }


def test_a_dossiers_claim_that_is_no_list_of_strings_is_refused(issuer: str) -> None:
    set_user(issuer, "klant", role="client", tenant="kantoor-oidc", dossiers="dossier-1")
    token = provider_tokens(issuer, CLIENT_ID, "klant")["id_token"]

    answer = api_trusting(issuer).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.json() == {"detail": "invalid token: dossiers claim must be a list of strings"}


def test_a_provider_that_cannot_be_reached_is_a_503_not_a_401() -> None:
    with provider() as gone:
        set_user(gone, "jan", role="adviser", tenant="kantoor-oidc")
        token = provider_tokens(gone, CLIENT_ID, "jan")["id_token"]
    # The provider stopped before the API ever fetched its keys.

    answer = api_trusting(gone).get("/scenarios", headers=bearer(token))

    assert answer.status_code == 503
    assert answer.json() == {"detail": "the identity provider's keys cannot be fetched now"}
