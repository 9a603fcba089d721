"""Bearer JWTs (HS256, or RS256/ES256 of the office's OpenID provider: ``oidc.py``), the
secret's rules, and the role and tenant rules of SPEC section 4."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from fastapi import HTTPException, Request

from servicekit.oidc import (
    ALGORITHMS,
    IssuerUnreachable,
    OidcSettings,
    TokenRefused,
    claim,
    issuer_for,
)
from shared.events.contracts import has_control_character, tenant_problem

log = logging.getLogger(__name__)

# ``service``: another platform service (SPEC section 11), e.g. to read a dossier's data key.
Role = Literal["admin", "adviser", "client", "service"]
ROLES: tuple[Role, ...] = ("admin", "adviser", "client", "service")


@dataclass(frozen=True)
class Identity:
    """Who calls: the token's subject in one office (tenant) with one role."""

    sub: str
    tenant: str
    role: Role
    dossiers: frozenset[str] = frozenset()

    def may_see_dossier(self, dossier_id: str) -> bool:
        """Staff of the office see every dossier of it; a client only the dossiers in its token."""
        return self.role != "client" or dossier_id in self.dossiers

    @property
    def actor(self) -> str:
        """Who did it, as every event records a person: ``<role>:<sub>`` (``adviser:jan``)."""
        return f"{self.role}:{self.sub}"


def actor_of(recorded: str) -> tuple[str | None, str]:
    """The role and subject of an event's actor as it was recorded: ``<role>:<sub>`` now, a
    bare ``<sub>`` (scenario catalogue and runs) or ``user:<sub>`` (document lists) before it,
    and a system's ``<kind>:<name>`` (``trigger:product_created``). The role is None where the
    record did not say it."""
    role, separator, sub = recorded.partition(":")
    if not separator:
        return None, recorded
    if role == "user":
        return None, sub
    return role, sub


SHORTEST_SECRET_BYTES = 32
PLACEHOLDER_SECRETS = frozenset(
    {
        # deploy/actiepunten.env.example (tests/unit/test_auth.py finds every example in our files)
        "change-me-to-a-long-random-secret",
    }
)
"""Example secrets written in our own files: a copy of one is no secret."""


def check_secret(secret: str, name: str = "ACTIEPUNTEN_JWT_SECRET") -> None:
    """Stop the service at start when the HS256 secret is short or one of our examples."""
    if len(secret.encode()) < SHORTEST_SECRET_BYTES:
        raise SystemExit(
            f"{name} is {len(secret.encode())} bytes: at least {SHORTEST_SECRET_BYTES} random "
            "bytes are needed (openssl rand -base64 48)"
        )
    lowered = secret.strip().lower()
    if lowered in PLACEHOLDER_SECRETS or "change-me" in lowered or "changeme" in lowered:
        raise SystemExit(
            f"{name} is the example from our files, not a secret: make one with "
            "openssl rand -base64 48"
        )


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def decode_token(token: str, secret: str, oidc: OidcSettings | None = None) -> Identity:
    """The caller of a bearer token: HS256 with ``secret`` (other platform services, local
    use), or RS256/ES256 from the office's OpenID provider when ``oidc`` names one. Raises 401
    with the reason otherwise (503 when the provider's keys cannot be fetched)."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError as error:
        raise _unauthorized(f"invalid token: {error}") from None
    if algorithm in ALGORITHMS:
        return _from_issuer(token, oidc)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "tenant", "role", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidTokenError as error:
        raise _unauthorized(f"invalid token: {error}") from None
    return identity_of(claims)


def _from_issuer(token: str, oidc: OidcSettings | None) -> Identity:
    if oidc is None:
        raise _unauthorized("invalid token: no OpenID provider is configured for RS256/ES256")
    try:
        claims = issuer_for(oidc).verify(token)
    except TokenRefused as refused:
        reason = str(refused)
        raise _unauthorized(
            reason if reason == "token expired" else f"invalid token: {reason}"
        ) from None
    except IssuerUnreachable as error:
        log.warning("OpenID provider unreachable: %s", error)
        raise HTTPException(503, "the identity provider's keys cannot be fetched now") from None
    return identity_of(claims, role_claim=oidc.role_claim, tenant_claim=oidc.tenant_claim)


def _role(value: object) -> Role | None:
    """A role claim: one of ``ROLES``, or a list of roles (a provider's groups): the first of
    ``ROLES`` it holds."""
    if isinstance(value, str):
        return next((role for role in ROLES if role == value), None)
    if isinstance(value, list):
        return next((role for role in ROLES if role in value), None)
    return None


def identity_of(
    claims: dict[str, Any], *, role_claim: str = "role", tenant_claim: str = "tenant"
) -> Identity:
    """The identity verified claims name; 401 for claims that name nobody we know."""
    role, tenant = _role(claim(claims, role_claim)), claim(claims, tenant_claim)
    if role is None:
        raise _unauthorized(f"invalid token: {role_claim} claim names no role of {ROLES}")
    dossiers = claims.get("dossiers")
    if dossiers is None:
        dossiers = []
    if not isinstance(dossiers, list) or not all(isinstance(d, str) for d in dossiers):
        raise _unauthorized("invalid token: dossiers claim must be a list of strings")
    if not isinstance(tenant, str) or not tenant:
        raise _unauthorized(f"invalid token: {tenant_claim} claim must be a non-empty string")
    # Every event an office's commands store carries the tenant as its CloudEvents `tenantid`:
    # a token may only name an office that an event can carry, or its commands could be stored
    # but never published, or name another office's aggregates (``tenant_problem``).
    problem = tenant_problem(tenant)
    if problem:
        raise _unauthorized(f"invalid token: {tenant_claim} claim {problem}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or has_control_character(sub):
        # The subject is recorded as who did it (``adviser:<sub>``): it must name somebody.
        raise _unauthorized("invalid token: sub claim must name somebody")
    return Identity(sub=sub, tenant=tenant, role=role, dossiers=frozenset(dossiers))


def require(*roles: Role) -> Callable[[Request], Identity]:
    """A FastAPI dependency: the caller's identity; 401 without a valid token, 403 wrong role."""

    def dependency(request: Request) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("missing bearer token")
        settings = request.app.state.settings
        identity = decode_token(token.strip(), settings.jwt_secret, getattr(settings, "oidc", None))
        if identity.role not in roles:
            raise HTTPException(403, f"role {identity.role!r} may not do this")
        return identity

    return dependency


def issue_token(
    secret: str,
    *,
    sub: str,
    tenant: str,
    role: Role,
    dossiers: list[str] | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A token for development, tests and `make run`; production tokens come from the platform."""
    import time

    claims: dict[str, object] = {
        "sub": sub,
        "tenant": tenant,
        "role": role,
        "exp": int(time.time()) + ttl_seconds,
    }
    if dossiers is not None:
        claims["dossiers"] = dossiers
    return jwt.encode(claims, secret, algorithm="HS256")
