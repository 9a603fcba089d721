"""Crypto-shredding's pieces (SPEC section 11): sealing a personal field with a dossier's data
key, the key wrapped by a KEK from a file, rotation, and what an erased key leaves: "[gewist]"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from servicekit.crypto import (
    ERASED,
    KeyEncryptionKeys,
    KeyFileError,
    is_sealed,
    new_data_key,
    reveal,
    seal,
    seal_once,
)
from services.dossiercontrole_service.data_keys import DataKeys, KeyErased, SqliteKeys

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_sealed_field_opens_with_its_dossier_s_key_only() -> None:
    key = new_data_key()
    sealed = seal(key, "Loonstrook Jan de Vries", "kantoor-1:dossier-1")
    assert is_sealed(sealed) and "Jan" not in sealed
    assert reveal(key, sealed, "kantoor-1:dossier-1") == "Loonstrook Jan de Vries"
    # Copied into another dossier's event, or read with another key: it does not open.
    assert reveal(key, sealed, "kantoor-1:dossier-2") == ERASED
    assert reveal(new_data_key(), sealed, "kantoor-1:dossier-1") == ERASED
    # Its key erased: "[gewist]". A value stored before sealing reads as it is.
    assert reveal(None, sealed, "kantoor-1:dossier-1") == "[gewist]"
    assert reveal(None, "Identiteitsbewijs", "kantoor-1:dossier-1") == "Identiteitsbewijs"


def test_the_kek_file_is_read_and_a_bad_one_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text("# keys\n" + KeyEncryptionKeys.new_line("kek-1"))
    assert KeyEncryptionKeys.from_file(path).current == "kek-1"
    path.write_text("kek-1:not-base64\n")
    with pytest.raises(KeyFileError, match="line 1: expected <id>:<base64 of 32 bytes>"):
        KeyEncryptionKeys.from_file(path)
    with pytest.raises(KeyFileError, match="No such file"):
        KeyEncryptionKeys.from_file(tmp_path / "missing")


def test_rotation_rewraps_old_keys_with_the_new_kek(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text(KeyEncryptionKeys.new_line("kek-1"))
    keys = DataKeys(KeyEncryptionKeys.from_file(path), SqliteKeys(tmp_path / "keys.sqlite"))
    first = keys.key_for("kantoor-1", "dossier-1")
    assert keys.key_for("kantoor-1", "dossier-1") == first  # made once

    # A new KEK is appended: new keys are wrapped by it, old ones still open ...
    path.write_text(path.read_text() + KeyEncryptionKeys.new_line("kek-2"))
    rotated = DataKeys(KeyEncryptionKeys.from_file(path), keys.db)
    assert rotated.get("kantoor-1", "dossier-1") == first
    second = rotated.key_for("kantoor-1", "dossier-2")
    # ... and re-wrapping moves the old ones over, so that the old KEK can go.
    assert rotated.rewrap() == 1 and rotated.rewrap() == 0
    path.write_text(path.read_text().splitlines()[1] + "\n")
    only_new = DataKeys(KeyEncryptionKeys.from_file(path), keys.db)
    assert only_new.get("kantoor-1", "dossier-1") == first
    assert only_new.get("kantoor-1", "dossier-2") == second


def test_an_erased_key_is_gone_for_good(tmp_path: Path) -> None:
    keks = KeyEncryptionKeys({"kek-1": b"k" * 32})
    keys = DataKeys(keks, SqliteKeys(tmp_path / "keys.sqlite"))
    keys.key_for("kantoor-1", "dossier-1")
    keys.erase("kantoor-1", "dossier-1", NOW)
    keys.erase("kantoor-1", "dossier-1", NOW)  # idempotent
    with pytest.raises(KeyErased, match="was erased at 2026-12-03T12:00:00"):
        keys.get("kantoor-1", "dossier-1")
    with pytest.raises(KeyErased):
        keys.key_for("kantoor-1", "dossier-1")
    # A dossier erased before it ever had a key is marked too.
    keys.erase("kantoor-1", "dossier-2", NOW)
    with pytest.raises(KeyErased):
        keys.get("kantoor-1", "dossier-2")
    assert keys.get("kantoor-1", "dossier-3") is None


def test_a_key_wrapped_by_another_kek_is_unavailable_not_made_up(tmp_path: Path) -> None:
    from services.dossiercontrole_service.data_keys import KeysUnavailable

    database = SqliteKeys(tmp_path / "keys.sqlite")
    DataKeys(KeyEncryptionKeys({"kek-1": b"a" * 32}), database).key_for("kantoor-1", "d1")
    elsewhere = DataKeys(KeyEncryptionKeys({"kek-1": b"b" * 32}), database)
    with pytest.raises(KeysUnavailable, match="cannot be opened here"):
        elsewhere.get("kantoor-1", "d1")


def test_recent_keeps_the_most_recently_used_keys_only() -> None:
    from servicekit.sealed_events import Recent

    kept: Recent[str, int] = Recent(3)
    for name in "abc":
        kept[name] = ord(name)
    assert kept.get("a") == ord("a")  # used: now the most recent
    kept["d"] = 4
    assert list(kept) == ["c", "a", "d"]
    assert kept.get("b") is None and "b" not in kept
    kept.update({"e": 5, "f": 6})
    assert list(kept) == ["d", "e", "f"] and len(kept) == 3
    assert kept.setdefault("g", 7) == 7 and len(kept) == 3


def test_a_value_that_does_not_open_reads_as_erased_and_is_sealed_again() -> None:
    key = new_data_key()
    sealed = seal(key, "Paspoort Jan", "o:d")
    assert seal_once(key, sealed, "o:d") == sealed  # sealed with this key already: kept
    for lookalike in ("enc:v1:", "enc:v1:not base64!", "enc:v1:" + "A" * 48, sealed + "x"):
        assert reveal(key, lookalike, "o:d") == ERASED
        again = seal_once(key, lookalike, "o:d")
        assert again != lookalike and reveal(key, again, "o:d") == lookalike
    other = seal(new_data_key(), "Paspoort Jan", "o:d")
    assert reveal(key, seal_once(key, other, "o:d"), "o:d") == other  # another key's: sealed
