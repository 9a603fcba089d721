"""The provider's tokens, checked without a provider: its discovery document and JWKS served
from memory (the real provider is in tests/integration/test_oidc_tokens.py and the staff
sign-in story). ES256 here, which the test provider does not sign with; the key cache; and the
rules every token of the issuer must meet."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import HTTPException

from servicekit.auth import decode_token
from servicekit.oidc import Issuer, OidcSettings, TokenRefused

ISSUER = "https://login.kantoor.example"
SETTINGS = OidcSettings(ISSUER, "actiepunten", audience="actiepunten")
SECRET = "a-test-secret-of-at-least-thirty-two-bytes!"


class Provider:
    """What the provider serves: the discovery document and its keys (counted)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "key-1"
        self.fetches: list[str] = []

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def get(self, url: str) -> dict[str, Any]:
        self.fetches.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}
        return self.jwks()

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        base = {"iss": ISSUER, "aud": "actiepunten", "sub": "jan", "iat": now, "exp": now + 600}
        base.update({"role": "adviser", "tenant": "kantoor-1"})
        base.update(claims)
        payload = {k: v for k, v in base.items() if v is not None}
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": self.kid})


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def issuer(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Issuer:
    issuer = Issuer(SETTINGS)
    monkeypatch.setattr(issuer, "_get", provider.get)
    return issuer


def refused(issuer: Issuer, token: str) -> str:
    with pytest.raises(TokenRefused) as error:
        issuer.verify(token)
    return str(error.value)


def test_an_es256_token_of_the_issuer_is_accepted(issuer: Issuer, provider: Provider) -> None:
    claims = issuer.verify(provider.token())
    assert (claims["sub"], claims["role"], claims["tenant"]) == ("jan", "adviser", "kantoor-1")


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "sub"])
def test_a_token_without_a_required_claim_is_refused(
    issuer: Issuer, provider: Provider, claim: str
) -> None:
    assert refused(issuer, provider.token(**{claim: None})) == (
        f'Token is missing the "{claim}" claim'
    )


def test_a_token_that_lives_longer_than_twelve_hours_is_refused(
    issuer: Issuer, provider: Provider
) -> None:
    now = int(time.time())
    assert "more than 43200 s" in refused(issuer, provider.token(exp=now + 13 * 3600))
    # Without `iat`, counted from now.
    assert "more than 43200 s" in refused(issuer, provider.token(iat=None, exp=now + 13 * 3600))
    # Twelve hours is allowed.
    issuer.verify(provider.token(iat=now, exp=now + 12 * 3600))


def test_keys_are_fetched_once_and_again_only_for_a_new_key_after_a_pause(
    issuer: Issuer, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        issuer.verify(provider.token())
    assert len(provider.fetches) == 2  # discovery and keys, once

    # The provider rotates its key: a token with the new kid is refused until the pause is
    # over (anyone can send an unknown kid), then the keys are fetched again.
    provider.kid, provider.key = "key-2", ec.generate_private_key(ec.SECP256R1())
    assert refused(issuer, provider.token()) == "signed with a key the issuer does not publish"
    assert len(provider.fetches) == 2
    monkeypatch.setattr(issuer, "_keys_fetched", issuer._keys_fetched - 31)
    issuer.verify(provider.token())
    assert len(provider.fetches) == 3


def test_an_hs256_token_is_never_checked_against_the_providers_keys() -> None:
    # The algorithm picks the check: HS256 with our secret, RS256/ES256 with the issuer's keys.
    forged = jwt.encode(
        {"sub": "x", "tenant": "kantoor-1", "role": "admin", "exp": int(time.time()) + 60},
        "not-our-secret-but-long-enough-to-sign-with!",
        algorithm="HS256",
    )
    with pytest.raises(HTTPException) as error:
        decode_token(forged, SECRET, SETTINGS)
    assert error.value.detail == "invalid token: Signature verification failed"


def test_without_a_provider_an_rs256_token_is_refused_with_the_reason(provider: Provider) -> None:
    with pytest.raises(HTTPException) as error:
        decode_token(provider.token(), SECRET, None)
    assert error.value.status_code == 401
    assert error.value.detail == ("invalid token: no OpenID provider is configured for RS256/ES256")


def test_the_settings_need_an_audience_once_an_issuer_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTIEPUNTEN_OIDC_ISSUER", ISSUER + "/")
    with pytest.raises(SystemExit, match="ACTIEPUNTEN_OIDC_CLIENT_ID is not"):
        OidcSettings.from_env()
    monkeypatch.setenv("ACTIEPUNTEN_OIDC_CLIENT_ID", "actiepunten")
    monkeypatch.setenv("ACTIEPUNTEN_OIDC_ROLE_CLAIM", "realm_access.roles")
    settings = OidcSettings.from_env()
    assert settings is not None
    assert (settings.issuer, settings.audience) == (ISSUER, "actiepunten")
    assert settings.role_claim == "realm_access.roles"
    monkeypatch.setenv("ACTIEPUNTEN_OIDC_ISSUER", "login.kantoor.example")
    with pytest.raises(SystemExit, match=r"ACTIEPUNTEN_OIDC_ISSUER='login\.kantoor\.example'"):
        OidcSettings.from_env()


def test_a_role_in_a_nested_list_claim_is_read(issuer: Issuer, provider: Provider) -> None:
    from servicekit.auth import identity_of

    claims = issuer.verify(provider.token(role=None, realm_access={"roles": ["user", "admin"]}))
    who = identity_of(claims, role_claim="realm_access.roles")
    assert (who.role, who.actor) == ("admin", "admin:jan")
