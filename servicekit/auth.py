"""Bearer JWTs (HS256) and the role and tenant rules of SPEC section 4."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import jwt
from fastapi import HTTPException, Request

from shared.events.contracts import has_control_character, tenant_problem

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


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def decode_token(token: str, secret: str) -> Identity:
    """Verify signature and expiry; raises 401 with the reason otherwise."""
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
    role = claims["role"]
    dossiers = claims.get("dossiers") or []
    if role not in ROLES or not isinstance(dossiers, list):
        raise _unauthorized("invalid token: unknown role or malformed dossiers claim")
    if not isinstance(claims["tenant"], str) or not claims["tenant"]:
        raise _unauthorized("invalid token: tenant claim must be a non-empty string")
    # Every event an office's commands store carries the tenant as its CloudEvents `tenantid`:
    # a token may only name an office that an event can carry, or its commands could be stored
    # but never published, or name another office's aggregates (``tenant_problem``).
    problem = tenant_problem(claims["tenant"])
    if problem:
        raise _unauthorized(f"invalid token: tenant claim {problem}")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.strip() or has_control_character(sub):
        # The subject is recorded as who did it (``adviser:<sub>``): it must name somebody.
        raise _unauthorized("invalid token: sub claim must name somebody")
    return Identity(
        sub=sub,
        tenant=claims["tenant"],
        role=role,
        dossiers=frozenset(str(d) for d in dossiers),
    )


def require(*roles: Role) -> Callable[[Request], Identity]:
    """A FastAPI dependency: the caller's identity; 401 without a valid token, 403 wrong role."""

    def dependency(request: Request) -> Identity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("missing bearer token")
        identity = decode_token(token.strip(), request.app.state.settings.jwt_secret)
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
