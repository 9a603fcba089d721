"""The office's OpenID Connect provider (SPEC section 10): its settings, its discovery document
and signing keys (fetched and cached), and the check of the tokens it signs.

The APIs accept its tokens as bearer tokens (``servicekit.auth``), and the portal's staff
sign-in (``services/portal_projection/web/staff_signin.py``) checks the ID token it gets back
with the same code. A token is accepted only when signed with RS256 or ES256 by a key of the
issuer's JWKS, and when it names the issuer (``iss``), us (``aud``) and its expiry (``exp``);
a token that lives longer than 12 hours is refused, whatever the provider meant by it.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

ALGORITHMS = ("RS256", "ES256")
LONGEST_TOKEN_SECONDS = 12 * 3600
"""The most a token may live (``exp`` minus ``iat``, or minus now without ``iat``)."""
KEYS_SECONDS = 300
"""How long the issuer's keys are trusted before they are fetched again."""
REFETCH_SECONDS = 30
"""A token naming an unknown key fetches the keys again at most this often (key rotation
without letting any caller make us hammer the provider)."""
LEEWAY_SECONDS = 30
"""Clock skew allowed on ``exp``, ``iat`` and ``nbf``."""


class TokenRefused(ValueError):
    """The token is not one of the issuer's, or not for us: the reason, for a 401."""


class IssuerUnreachable(RuntimeError):
    """The provider's discovery document or keys could not be fetched: a 503, not a 401."""


def _refuse(name: str, value: str, expected: str) -> SystemExit:
    return SystemExit(f"{name}={value!r} is not valid: expected {expected}")


@dataclass(frozen=True)
class OidcSettings:
    """``ACTIEPUNTEN_OIDC_*``; without an issuer, no provider is configured (local use)."""

    issuer: str
    client_id: str = ""
    client_secret_file: str = ""
    audience: str = ""
    role_claim: str = "role"
    tenant_claim: str = "tenant"

    @classmethod
    def from_env(cls) -> OidcSettings | None:
        issuer = os.environ.get("ACTIEPUNTEN_OIDC_ISSUER", "").strip().rstrip("/")
        if not issuer:
            return None
        if not issuer.startswith(("https://", "http://")):
            raise _refuse("ACTIEPUNTEN_OIDC_ISSUER", issuer, "the issuer's https:// URL")
        client_id = os.environ.get("ACTIEPUNTEN_OIDC_CLIENT_ID", "").strip()
        audience = os.environ.get("ACTIEPUNTEN_OIDC_AUDIENCE", "").strip() or client_id
        if not audience:
            raise SystemExit(
                "ACTIEPUNTEN_OIDC_ISSUER is set, ACTIEPUNTEN_OIDC_CLIENT_ID is not: the tokens' "
                "audience (aud) must be named (or ACTIEPUNTEN_OIDC_AUDIENCE)"
            )
        secret_file = os.environ.get("ACTIEPUNTEN_OIDC_CLIENT_SECRET_FILE", "").strip()
        if secret_file and not Path(secret_file).is_file():
            raise _refuse("ACTIEPUNTEN_OIDC_CLIENT_SECRET_FILE", secret_file, "a readable file")
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret_file=secret_file,
            audience=audience,
            role_claim=os.environ.get("ACTIEPUNTEN_OIDC_ROLE_CLAIM", "").strip() or "role",
            tenant_claim=os.environ.get("ACTIEPUNTEN_OIDC_TENANT_CLAIM", "").strip() or "tenant",
        )

    def client_secret(self) -> str | None:
        """The client's secret from its file (read when needed: a rotated secret counts)."""
        if not self.client_secret_file:
            return None
        return Path(self.client_secret_file).read_text().strip()


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested claims (``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class Issuer:
    """One provider: discovery and keys fetched over HTTPS and cached; tokens checked."""

    def __init__(self, settings: OidcSettings, *, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched = -float("inf")

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.timeout, follow_redirects=False)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise IssuerUnreachable(f"{url}: {type(error).__name__}") from None
        if not isinstance(body, dict):
            raise IssuerUnreachable(f"{url}: not a JSON object")
        return body

    def metadata(self) -> dict[str, Any]:
        """The discovery document; it must name the configured issuer (OpenID Discovery 4.3)."""
        if self._metadata is None:
            url = f"{self.settings.issuer}/.well-known/openid-configuration"
            body = self._get(url)
            if body.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise IssuerUnreachable(f"{url} names another issuer: {body.get('issuer')!r}")
            self._metadata = body
        return self._metadata

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            now = time.monotonic()
            stale = now - self._keys_fetched > KEYS_SECONDS
            unknown = kid not in self._keys and now - self._keys_fetched > REFETCH_SECONDS
            if stale or unknown:
                jwks = self._get(str(self.metadata()["jwks_uri"]))
                keys = jwt.PyJWKSet.from_dict(jwks).keys if jwks.get("keys") else []
                self._keys = {str(key.key_id): key for key in keys if key.public_key_use != "enc"}
                self._keys_fetched = now
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            if kid not in self._keys:
                raise TokenRefused("signed with a key the issuer does not publish")
            return self._keys[kid]

    def verify(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The claims of a token the issuer signed for ``audience`` (default: the settings').
        Raises ``TokenRefused`` with the reason, ``IssuerUnreachable`` if the keys cannot be
        had."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise TokenRefused(str(error)) from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(f"algorithm {header.get('alg')!r} is not RS256 or ES256")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=audience or self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("token expired") from None
        except jwt.InvalidTokenError as error:
            raise TokenRefused(str(error)) from None
        _check_lifetime(claims)
        return claims


def _check_lifetime(claims: dict[str, Any]) -> None:
    expires = claims["exp"]
    issued = claims.get("iat", time.time())
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        raise TokenRefused("iat claim must be a number")
    if expires - issued > LONGEST_TOKEN_SECONDS + LEEWAY_SECONDS:
        raise TokenRefused(
            f"token lives {int(expires - issued)} s, more than {LONGEST_TOKEN_SECONDS} s allowed"
        )


@functools.lru_cache(maxsize=4)
def issuer_for(settings: OidcSettings) -> Issuer:
    """The one ``Issuer`` (and so the one key cache) of a process for these settings."""
    return Issuer(settings)
