"""Who may call: bearer tokens (HS256) and the office and dossier rules of SPEC section 4."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import jwt
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from actiepunten.cli import jwt_secret
from servicekit.auth import Identity, check_secret, decode_token, issue_token, require

SECRET = "a-test-secret-of-at-least-thirty-two-bytes!"
AdminOnly = Annotated[Identity, Depends(require("admin"))]


def token(secret: str = SECRET, **claims: Any) -> str:
    """A token with good claims, changed or left out (``None``) as the test says."""
    base: dict[str, Any] = {
        "sub": "adviseur-1",
        "tenant": "kantoor-utrecht",
        "role": "adviser",
        "exp": int(time.time()) + 600,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret, "HS256")


def refused(raw: str) -> HTTPException:
    with pytest.raises(HTTPException) as error:
        decode_token(raw, SECRET)
    assert error.value.status_code == 401
    assert error.value.headers == {"WWW-Authenticate": "Bearer"}
    return error.value


def test_an_advisers_token_names_the_adviser_and_the_office() -> None:
    identity = decode_token(token(), SECRET)

    assert identity == Identity(sub="adviseur-1", tenant="kantoor-utrecht", role="adviser")


def test_a_clients_token_carries_the_dossiers_of_the_client() -> None:
    raw = issue_token(
        SECRET, sub="klant-1", tenant="kantoor-utrecht", role="client", dossiers=["dossier-1"]
    )

    identity = decode_token(raw, SECRET)

    assert identity.role == "client"
    assert identity.dossiers == frozenset({"dossier-1"})


def test_an_expired_token_is_refused() -> None:
    error = refused(token(exp=int(time.time()) - 60))
    assert error.detail == "token expired"


def test_a_token_signed_with_another_secret_is_refused() -> None:
    error = refused(token(secret="somebody-elses-secret-of-32-bytes!!"))
    assert error.detail == "invalid token: Signature verification failed"


def test_a_token_signed_with_another_algorithm_is_refused() -> None:
    unsigned = jwt.encode(
        {"sub": "x", "tenant": "kantoor-utrecht", "role": "admin", "exp": time.time() + 600},
        None,
        algorithm="none",
    )
    error = refused(unsigned)
    assert error.detail == "invalid token: The specified alg value is not allowed"


def test_something_that_is_not_a_token_is_refused() -> None:
    error = refused("not-a-jwt")
    assert str(error.detail).startswith("invalid token: ")


@pytest.mark.parametrize("claim", ["sub", "tenant", "role", "exp"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    without: dict[str, Any] = {claim: None}
    error = refused(token(**without))
    assert error.detail == f'invalid token: Token is missing the "{claim}" claim'


def test_a_token_with_an_unknown_role_is_refused() -> None:
    error = refused(token(role="superuser"))
    assert error.detail == (
        "invalid token: role claim names no role of ('admin', 'adviser', 'client', 'service')"
    )


@pytest.mark.parametrize(
    "dossiers",
    ["dossier-1", [1, 2], ["dossier-1", None], {"dossier-1": True}, [["dossier-1"]]],
    ids=["a string", "numbers", "a null among them", "an object", "nested lists"],
)
def test_a_token_whose_dossiers_claim_is_not_a_list_of_strings_is_refused(
    dossiers: object,
) -> None:
    error = refused(token(role="client", dossiers=dossiers))
    assert error.detail == "invalid token: dossiers claim must be a list of strings"


def test_a_token_with_an_empty_office_is_refused() -> None:
    error = refused(token(tenant=""))
    assert error.detail == "invalid token: tenant claim must be a non-empty string"


def test_a_token_whose_office_id_no_event_can_carry_is_refused() -> None:
    error = refused(token(tenant="k" * 201))
    assert str(error.detail).startswith("invalid token: tenant")


@pytest.mark.parametrize(
    ("tenant", "why"),
    [
        ("acme:eu", "':'"),  # acme's dossier "eu:d1" would be this office's dossier "d1"
        ("   ", "blank"),
        ("\t\n", "blank"),
        ("kantoor\x00utrecht", "control character"),
        ("kantoor\x1butrecht", "control character"),
    ],
    ids=["colon", "spaces", "tab and newline", "nul", "escape"],
)
def test_a_token_whose_office_id_could_name_another_office_is_refused(
    tenant: str, why: str
) -> None:
    error = refused(token(tenant=tenant))
    assert str(error.detail).startswith("invalid token: tenant claim")
    assert why in str(error.detail)


@pytest.mark.parametrize("sub", ["", "  ", "adviseur\x00"], ids=["empty", "blank", "nul"])
def test_a_token_that_names_nobody_is_refused(sub: str) -> None:
    error = refused(token(sub=sub))
    assert str(error.detail).startswith("invalid token: sub claim")


def test_staff_see_every_dossier_of_their_office_a_client_only_their_own() -> None:
    adviser = Identity(sub="adviseur-1", tenant="kantoor-utrecht", role="adviser")
    admin = Identity(sub="admin-1", tenant="kantoor-utrecht", role="admin")
    client = Identity(
        sub="klant-1", tenant="kantoor-utrecht", role="client", dossiers=frozenset({"dossier-1"})
    )
    nobodys_client = Identity(sub="klant-2", tenant="kantoor-utrecht", role="client")

    assert adviser.may_see_dossier("dossier-1")
    assert admin.may_see_dossier("dossier-2")
    assert client.may_see_dossier("dossier-1")
    assert not client.may_see_dossier("dossier-2")
    assert not nobodys_client.may_see_dossier("dossier-1")


def test_issued_tokens_expire_after_their_time_to_live() -> None:
    raw = issue_token(SECRET, sub="admin-1", tenant="kantoor-utrecht", role="admin", ttl_seconds=-1)
    assert refused(raw).detail == "token expired"


def test_an_endpoint_asks_for_a_bearer_token_and_the_right_role() -> None:
    app = FastAPI()
    app.state.settings = SimpleNamespace(jwt_secret=SECRET)

    @app.put("/document-types/{code}")
    def configure(code: str, who: AdminOnly) -> dict[str, str]:
        return {"tenant": who.tenant}

    client = TestClient(app)
    path = "/document-types/finale_kwijting"

    # Without a token, or with another scheme: 401.
    assert client.put(path).status_code == 401
    assert client.put(path, headers={"Authorization": f"Basic {token()}"}).json() == {
        "detail": "missing bearer token"
    }
    # An adviser may not configure document types: 403.
    as_adviser = client.put(path, headers={"Authorization": f"Bearer {token()}"})
    assert as_adviser.status_code == 403
    assert as_adviser.json() == {"detail": "role 'adviser' may not do this"}
    # The office's admin may.
    as_admin = client.put(path, headers={"Authorization": f"Bearer {token(role='admin')}"})
    assert as_admin.status_code == 200
    assert as_admin.json() == {"tenant": "kantoor-utrecht"}


# --- the secret `make run` makes -----------------------------------------------------------------


@pytest.fixture
def no_secret_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ACTIEPUNTEN_JWT_SECRET", raising=False)
    previous = os.umask(0o022)  # a usual umask: new files readable by everybody
    yield
    os.umask(previous)


@pytest.mark.usefixtures("no_secret_in_env")
def test_the_secret_make_run_makes_is_never_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whenever the file's mode is changed, look at what it held until then.
    exposed: list[str] = []
    real_chmod = Path.chmod

    def watching_chmod(path: Path, mode: int, **kwargs: Any) -> None:
        if path.exists() and path.read_text() and path.stat().st_mode & 0o077:
            exposed.append(f"{path.name} held the secret with mode {path.stat().st_mode:o}")
        real_chmod(path, mode, **kwargs)

    monkeypatch.setattr(Path, "chmod", watching_chmod)

    secret = jwt_secret(tmp_path)

    assert exposed == []
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o777 == 0o600
    assert len(secret) >= 32
    # The next `make run` uses the same secret, so tokens it printed stay valid.
    assert jwt_secret(tmp_path) == secret


@pytest.mark.usefixtures("no_secret_in_env")
def test_two_make_runs_starting_at_once_share_one_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While this `make run` draws its secret, another one writes its own file first.
    real_token = secrets.token_urlsafe

    def another_run_writes_first(nbytes: int | None = None) -> str:
        if not (tmp_path / "jwt-secret").exists():
            (tmp_path / "jwt-secret").write_text("the-other-runs-secret-" + "x" * 32)
        return real_token(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", another_run_writes_first)

    # Both use the secret that is in the file: the services of both accept the same tokens.
    assert jwt_secret(tmp_path) == "the-other-runs-secret-" + "x" * 32
    assert (tmp_path / "jwt-secret").read_text() == "the-other-runs-secret-" + "x" * 32


@pytest.mark.usefixtures("no_secret_in_env")
def test_a_secret_file_left_readable_by_an_older_version_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text("an-older-secret-" + "y" * 32)
    path.chmod(0o644)

    assert jwt_secret(tmp_path) == "an-older-secret-" + "y" * 32
    assert path.stat().st_mode & 0o777 == 0o600


# --- the HS256 secret: long enough, and not one of our examples --------------------------------

ROOT = Path(__file__).resolve().parents[2]


def example_secrets() -> set[str]:
    """Every value our own files give ``ACTIEPUNTEN_JWT_SECRET`` literally (not from a command
    or another variable): the deploy files, compose and the READMEs."""
    import re

    files = [ROOT / "compose.yaml", ROOT / "README.md", *sorted((ROOT / "deploy").rglob("*"))]
    found: set[str] = set()
    for path in files:
        if not path.is_file() or path.suffix in {".py", ".json"}:
            continue
        for value in re.findall(
            r"ACTIEPUNTEN_JWT_SECRET[=:]\s*['\"]?([^\s'\"]+)", path.read_text()
        ):
            if not value.startswith(("$", "`")):
                found.add(value)
    return found


def test_every_example_secret_in_our_files_stops_the_service() -> None:
    examples = example_secrets()
    assert "change-me-to-a-long-random-secret" in examples  # the scan finds what is there
    for example in examples:
        with pytest.raises(SystemExit, match=r"example from our files|bytes: at least 32"):
            check_secret(example)


@pytest.mark.parametrize("secret", ["", "secret", "x" * 31, "é" * 15])
def test_a_secret_under_32_bytes_stops_the_service(secret: str) -> None:
    with pytest.raises(SystemExit, match=r"ACTIEPUNTEN_JWT_SECRET is \d+ bytes: at least 32"):
        check_secret(secret)


def test_a_long_random_secret_is_taken() -> None:
    check_secret(secrets.token_urlsafe(32))
    check_secret("é" * 16)  # 32 bytes in UTF-8


def test_settings_refuse_a_placeholder_secret_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from servicekit.settings import Settings

    monkeypatch.setenv("ACTIEPUNTEN_JWT_SECRET", "CHANGE-ME-to-a-long-random-secret-please")
    with pytest.raises(SystemExit, match="example from our files"):
        Settings.from_env("scenario")
