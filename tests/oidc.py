"""A real OpenID Connect provider for the tests: PyPI's ``oidc-provider-mock`` (authlib under
Flask, RS256 keys of its own, discovery, JWKS, the authorization code flow), served on a free
port of this machine from a thread of the test process. Its login form takes any ``sub``; the
claims a user gets are set beforehand (``PUT /users/<sub>``).

Chosen over ORY Hydra, which would need a Go build of a large module in every CI run (minutes)
and a login and consent app besides; this one starts in milliseconds. Its 0.3 line (the last for
Python 3.11) does not check PKCE: our side sends and the test checks the challenge.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@contextmanager
def provider(lifetime: timedelta = timedelta(hours=1)) -> Iterator[str]:
    """A provider whose tokens live ``lifetime``; yields its issuer URL."""
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0, access_token_max_age=lifetime) as server:
        yield f"http://localhost:{server.server_port}"


def set_user(issuer: str, sub: str, **claims: Any) -> None:
    """The claims the provider puts in this user's tokens (role, office, e-mail...)."""
    httpx.put(f"{issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()


def log_in_at_provider(browser: httpx.Client, authorize_url: str, sub: str) -> str:
    """What a person does at the provider's page: the form, their name, Authorize. Returns the
    redirect back to the client (with ``code`` and ``state``)."""
    form = browser.get(authorize_url)
    assert form.status_code == 200, form.text
    answer = browser.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def provider_tokens(
    issuer: str, client_id: str, sub: str, *, token_host: str | None = None
) -> dict[str, Any]:
    """The tokens a client gets for ``sub`` by the authorization code flow with PKCE (the
    provider's answer: ``id_token``, ``access_token`` ...). ``token_host`` asks the token
    endpoint under another name of this machine (its tokens then name that issuer)."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    redirect_uri = "http://127.0.0.1:9/callback"
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx.Client(timeout=10) as browser:
        authorize = str(httpx.URL(f"{issuer}/oauth2/authorize", params=query))
        back = log_in_at_provider(browser, authorize, sub)
        code = parse_qs(urlsplit(back).query)["code"][0]
        base = issuer if token_host is None else issuer.replace("localhost", token_host)
        answer = browser.post(
            f"{base}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            auth=(client_id, "its-secret"),
        )
    answer.raise_for_status()
    tokens: dict[str, Any] = answer.json()
    return tokens
