"""Signing in (SPEC section 8) without a server: one-time codes (once, 15 minutes, only their
hash stored), sessions (idle 60 minutes, at most 12 hours, ended by signing out), where a
sign-in may lead (``next``), and how often a sign-in mail may be asked for."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.portal_projection.signins import (
    CODE_SECONDS,
    IDLE_SECONDS,
    LONGEST_SECONDS,
    Person,
    SignIns,
    signins_in_file,
)
from services.portal_projection.web.signin import safe_next

T0 = 1_800_000_000
ELS = Person("kantoor-1", "client", "klant-els", email="els@example.nl")


@pytest.fixture
def signins(tmp_path: Path) -> Iterator[SignIns]:
    store = signins_in_file(tmp_path / "signin.sqlite")
    yield store
    store.close()


def test_a_code_signs_in_once_and_only_its_hash_is_kept(signins: SignIns, tmp_path: Path) -> None:
    code = signins.issue_code(ELS, "/app/dossiers/d1", at=T0)
    assert len(code) >= 43  # 256 random bits, URL-safe

    # Looking at it (the confirm page) changes nothing.
    assert signins.code_holder(code, at=T0 + 1) == ELS
    assert signins.code_holder(code, at=T0 + 2) == ELS
    redeemed = signins.redeem(code, at=T0 + 3)
    assert redeemed is not None
    assert (redeemed.person, redeemed.next) == (ELS, "/app/dossiers/d1")
    assert signins.redeem(code, at=T0 + 4) is None
    assert signins.code_holder(code, at=T0 + 4) is None

    stored = (tmp_path / "signin.sqlite").read_bytes()
    assert code.encode() not in stored
    assert redeemed.session_id.encode() not in stored


def test_a_code_expires_after_15_minutes(signins: SignIns) -> None:
    code = signins.issue_code(ELS, at=T0)
    assert signins.redeem(code, at=T0 + CODE_SECONDS) is None
    assert signins.redeem("an-unknown-code", at=T0) is None


def test_a_session_ends_after_an_idle_hour_or_twelve_hours_or_signing_out(
    signins: SignIns,
) -> None:
    def started() -> str:
        redeemed = signins.redeem(signins.issue_code(ELS, at=T0), at=T0)
        assert redeemed is not None
        return redeemed.session_id

    idle = started()
    assert signins.session(idle, at=T0 + IDLE_SECONDS - 1) == ELS
    assert signins.session(idle, at=T0 + 2 * IDLE_SECONDS - 2) == ELS  # used: idle from then
    assert signins.session(idle, at=T0 + 3 * IDLE_SECONDS) is None

    busy = started()
    for minute in range(0, LONGEST_SECONDS, 30 * 60):
        assert signins.session(busy, at=T0 + minute) == ELS
    assert signins.session(busy, at=T0 + LONGEST_SECONDS) is None

    left = started()
    signins.end_session(left, at=T0 + 10)
    assert signins.session(left, at=T0 + 11) is None


def test_last_use_is_written_at_most_once_a_minute(signins: SignIns, tmp_path: Path) -> None:
    redeemed = signins.redeem(signins.issue_code(ELS, at=T0), at=T0)
    assert redeemed is not None
    with sqlite3.connect(tmp_path / "signin.sqlite") as db:
        for second in (1, 30, 59):
            signins.session(redeemed.session_id, at=T0 + second)
            assert db.execute("SELECT seen_at FROM sessions").fetchone()[0] == T0
        signins.session(redeemed.session_id, at=T0 + 60)
        assert db.execute("SELECT seen_at FROM sessions").fetchone()[0] == T0 + 60


@pytest.mark.parametrize(
    ("asked", "goes"),
    [
        ("/app/dossiers/d1", "/app/dossiers/d1"),
        ("/app/dossiers/d1?tab=2", "/app/dossiers/d1?tab=2"),
        ("https://evil.example/app/", "/app/"),
        ("//evil.example/app/", "/app/"),
        ("/app//evil.example", "/app/"),
        ("/app/\\evil.example", "/app/"),
        ("javascript:alert(1)", "/app/"),
        ("/elders", "/app/"),
        ("/app/\r\nSet-Cookie: x", "/app/"),
        ("", "/app/"),
    ],
)
def test_a_sign_in_leads_only_to_a_page_of_this_origin(asked: str, goes: str) -> None:
    assert safe_next(asked) == goes


def test_sign_in_mails_are_limited_per_address_and_per_client_ip(signins: SignIns) -> None:
    def ask(address: str, ip: str, at: int = T0) -> bool:
        return signins.allow_request([("address", address), ("ip", ip)], at=at)

    assert [ask("els@example.nl", "10.0.0.1") for _ in range(6)] == [True] * 5 + [False]
    # Another address from elsewhere is not held back; after 15 minutes the first may again.
    assert ask("jan@example.nl", "10.0.0.2")
    assert ask("els@example.nl", "10.0.0.1", at=T0 + 15 * 60)
    # One IP asking for many addresses: 20 at the most.
    answers = [ask(f"klant-{n}@example.nl", "10.0.0.9") for n in range(21)]
    assert answers == [True] * 20 + [False]
