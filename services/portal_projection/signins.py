"""Signing in without a token in the link (SPEC section 8): one-time codes, server-side sessions
and the counts that limit how often a sign-in mail may be asked for.

They live in a store of their own beside the read model (``portal-signin.sqlite`` in the data
dir, or the PostgreSQL schema ``actiepunten_portal_signin``), which every replica shares and
which a replay never replaces: a rebuilt read model is a new file or schema, and nobody is
signed out by it. Only hashes (sha256) of codes and session ids are stored, so a copy of the
store opens nothing. Moments are whole seconds since the epoch.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from servicekit.auth import Role
from servicekit.settings import Settings
from services.portal_projection.stores import Executor, PostgresStore, SQLiteStore

CODE_SECONDS = 15 * 60
IDLE_SECONDS = 60 * 60
LONGEST_SECONDS = 12 * 3600
TOUCH_SECONDS = 60
"""A session's last use is written at most once a minute: a page polling every 2 s writes
nothing, and idleness is still measured to the minute."""

LIMITS = {"address": (5, 15 * 60), "ip": (20, 15 * 60)}
"""Sign-in mails asked for: at most so many per e-mail address and per client IP in so many
seconds, counted in the shared store so that every replica counts them together."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS signin_codes (
    code_hash TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    next TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS signin_requests (
    scope TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    asked_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_requests_by_key ON signin_requests (scope, key_hash, asked_at);
"""

SQLITE_NAME = "portal-signin.sqlite"
POSTGRES_SCHEMA = "actiepunten_portal_signin"


@dataclass(frozen=True)
class Person:
    """Who a code or session signs in: a role in one office. A client's ``dossiers`` are named
    (``actiepunten signin-link --dossier``) or None: the dossiers where ``email`` is a contact,
    looked up on every request so that a contact changed on the platform counts at once."""

    tenant: str
    role: Role
    sub: str
    email: str | None = None
    dossiers: tuple[str, ...] | None = None

    def dumps(self) -> str:
        return json.dumps(
            {
                "tenant": self.tenant,
                "role": self.role,
                "sub": self.sub,
                "email": self.email,
                "dossiers": None if self.dossiers is None else list(self.dossiers),
            }
        )

    @classmethod
    def loads(cls, text: str) -> Person:
        data = json.loads(text)
        dossiers = data.get("dossiers")
        return cls(
            tenant=data["tenant"],
            role=data["role"],
            sub=data["sub"],
            email=data.get("email"),
            dossiers=None if dossiers is None else tuple(dossiers),
        )


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> int:
    return int(time.time())


class _Tables:
    """The sign-in tables instead of the read model's; no version (nothing is rebuilt)."""

    version = 0

    def _prepare_tables(self, db: Executor) -> None:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)


class _SQLiteSignIns(_Tables, SQLiteStore):
    def _prepare(self) -> None:
        with self.transaction() as db:
            self._prepare_tables(db)


class _PostgresSignIns(_Tables, PostgresStore):
    def _prepare(self, cursor: Executor) -> None:
        self._prepare_tables(cursor)


def open_signins(settings: Settings) -> SignIns:
    """The sign-in store of this system (the portal's settings)."""
    if settings.persistence == "postgres":
        return SignIns(_PostgresSignIns(settings, POSTGRES_SCHEMA))
    return signins_in_file(Path(settings.data_dir) / SQLITE_NAME)


def signins_in_file(path: Path) -> SignIns:
    """A sign-in store in one SQLite file."""
    return SignIns(_SQLiteSignIns(path))


def confirm_link(portal_url: str, code: str) -> str:
    """Where a code is confirmed: the page with the button that signs in."""
    return f"{portal_url.rstrip('/')}/app/signin/confirm?{urlencode({'code': code})}"


def signin_link(
    settings: Settings, person: Person, portal_url: str, next_path: str = "/app/"
) -> str:
    """A one-time confirm link for ``person``, written into the system's sign-in store
    (``actiepunten signin-link``, ``make run``, the tests: for staff and local use)."""
    signins = open_signins(settings)
    try:
        code = signins.issue_code(person, next_path)
    finally:
        signins.close()
    return confirm_link(portal_url, code)


@dataclass(frozen=True)
class Redeemed:
    session_id: str
    person: Person
    next: str


def _insert_session(db: Executor, person: str, at: int) -> str:
    session_id = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO sessions (id_hash, person, started_at, seen_at) VALUES (?, ?, ?, ?)",
        (digest(session_id), person, at, at),
    )
    return session_id


class SignIns:
    """Codes, sessions and request counts over one store (SQLite or PostgreSQL)."""

    def __init__(self, store: SQLiteStore | PostgresStore) -> None:
        self.store = store

    def close(self) -> None:
        self.store.close()

    # --- one-time codes ---------------------------------------------------------------------

    def issue_code(self, person: Person, next_path: str = "/app/", at: int | None = None) -> str:
        """A new one-time code for ``person`` (256 random bits), valid ``CODE_SECONDS``."""
        code = secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO signin_codes (code_hash, person, next, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (digest(code), person.dumps(), next_path, (at or now()) + CODE_SECONDS),
            )
        return code

    def code_holder(self, code: str, at: int | None = None) -> Person | None:
        """Whom an unused, unexpired code signs in; reading it changes nothing."""
        rows = self.store.query(
            "SELECT person FROM signin_codes WHERE code_hash = ? AND used = 0 AND expires_at > ?",
            (digest(code), at or now()),
        )
        return Person.loads(rows[0]["person"]) if rows else None

    def redeem(self, code: str, at: int | None = None) -> Redeemed | None:
        """Use the code (once: one conditional UPDATE, so two replicas cannot both use it) and
        start a session for its person; None for a used, expired or unknown code."""
        at = at or now()
        with self.store.transaction() as db:
            used = db.execute(
                "UPDATE signin_codes SET used = 1 WHERE code_hash = ? AND used = 0 "
                "AND expires_at > ?",
                (digest(code), at),
            )
            if used.rowcount != 1:
                return None
            person, next_path = db.execute(
                "SELECT person, next FROM signin_codes WHERE code_hash = ?", (digest(code),)
            ).fetchone()
            session_id = _insert_session(db, person, at)
            # Codes that can no longer be used are of no use to anyone.
            db.execute("DELETE FROM signin_codes WHERE expires_at <= ?", (at - CODE_SECONDS,))
        return Redeemed(session_id, Person.loads(person), next_path)

    # --- sessions ---------------------------------------------------------------------------

    def start_session(self, person: Person, at: int | None = None) -> str:
        """A session for ``person`` whom somebody else vouched for (the office's OpenID
        provider, ``web/staff_signin.py``): the same session a redeemed code starts."""
        with self.store.transaction() as db:
            return _insert_session(db, person.dumps(), at or now())

    def session(self, session_id: str, at: int | None = None) -> Person | None:
        """The person of a live session: used within ``IDLE_SECONDS`` and started less than
        ``LONGEST_SECONDS`` ago; its last use is noted (at most once a minute)."""
        at = at or now()
        rows = self.store.query(
            "SELECT person, seen_at FROM sessions WHERE id_hash = ? AND seen_at > ? "
            "AND started_at > ?",
            (digest(session_id), at - IDLE_SECONDS, at - LONGEST_SECONDS),
        )
        if not rows:
            return None
        if at - int(rows[0]["seen_at"]) >= TOUCH_SECONDS:
            with self.store.transaction() as db:
                db.execute(
                    "UPDATE sessions SET seen_at = ? WHERE id_hash = ?", (at, digest(session_id))
                )
        return Person.loads(rows[0]["person"])

    def end_session(self, session_id: str, at: int | None = None) -> None:
        """Sign-out: the session is gone (and so are sessions that ran out)."""
        at = at or now()
        with self.store.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(session_id),))
            db.execute(
                "DELETE FROM sessions WHERE seen_at <= ? OR started_at <= ?",
                (at - IDLE_SECONDS, at - LONGEST_SECONDS),
            )

    # --- how often a sign-in mail is asked for ------------------------------------------------

    def allow_request(self, keys: Sequence[tuple[str, str]], at: int | None = None) -> bool:
        """Count one request for a mail under each ``(scope, key)`` (``LIMITS``' scopes) unless
        one of them is at its limit already; False then, and nothing is counted."""
        at = at or now()
        window = max(seconds for _, seconds in LIMITS.values())
        with self.store.transaction() as db:
            db.execute("DELETE FROM signin_requests WHERE asked_at <= ?", (at - window,))
            for scope, key in keys:
                limit, seconds = LIMITS[scope]
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM signin_requests WHERE scope = ? AND key_hash = ? "
                    "AND asked_at > ?",
                    (scope, digest(key), at - seconds),
                ).fetchone()
                if count >= limit:
                    return False
            for scope, key in keys:
                db.execute(
                    "INSERT INTO signin_requests (scope, key_hash, asked_at) VALUES (?, ?, ?)",
                    (scope, digest(key), at),
                )
        return True
