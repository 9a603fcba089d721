"""The dossier check's data keys made for a batch of new dossiers at once (``DataKeys.made``,
``DataKeys.ensure``), on both stores: one transaction for the batch, a key kept for a dossier
that had one, an erased dossier left erased, and every key the same when read again."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.postgres import PostgresServer
from servicekit.crypto import KeyEncryptionKeys
from servicekit.sealing import GONE
from services.dossiercontrole_service.data_keys import (
    DataKeys,
    PostgresKeys,
    SqliteKeys,
    _Database,
)
from services.dossiercontrole_service.domainmodel import DossierCheck


class Counting:
    """A store's statements, counted: how many transactions a batch took."""

    def __init__(self, db: _Database) -> None:
        self.db = db
        self.writes = 0

    def run(self, sql: str, params: tuple[object, ...]) -> None:
        self.writes += 1
        self.db.run(sql, params)

    def run_many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        self.writes += 1
        self.db.run_many(sql, rows)

    def rows(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        return self.db.rows(sql, params)

    def add_aggregate_column(self) -> None:
        self.db.add_aggregate_column()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[_Database]:
    if request.param == "sqlite":
        yield SqliteKeys(tmp_path / "data-keys.sqlite")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    env = server.create_database(f"keys_{uuid.uuid4().hex[:10]}")
    params = {
        "host": env["ACTIEPUNTEN_POSTGRES_HOST"],
        "port": int(env["ACTIEPUNTEN_POSTGRES_PORT"]),
        "user": env["ACTIEPUNTEN_POSTGRES_USER"],
        "dbname": env["ACTIEPUNTEN_POSTGRES_DBNAME"],
    }
    yield PostgresKeys(params, "actiepunten_dossiercontrole")


def test_a_batch_of_new_dossiers_gets_its_keys_in_one_transaction(database: _Database) -> None:
    counted = Counting(database)
    keys = DataKeys(KeyEncryptionKeys({"kek-1": os.urandom(32)}), counted)
    had = keys.key_for("kantoor-a", "d-old")
    keys.erase("kantoor-a", "d-erased", datetime.now(UTC))
    counted.writes = 0

    wanted = ["d-old", "d-erased", *(f"d-new-{i}" for i in range(50))]
    found = keys.made("kantoor-a", wanted)

    assert counted.writes == 1  # the 50 new keys in one statement batch, one commit
    assert found["d-old"] == had
    assert found["d-erased"] is GONE
    new = {found[f"d-new-{i}"] for i in range(50)}
    assert len(new) == 50 and all(isinstance(key, bytes) and len(key) == 32 for key in new)
    again = keys.many("kantoor-a", wanted)
    assert again == found
    assert keys.many("kantoor-b", wanted) == {}  # another office's dossiers of the same names
    assert keys.key_of(DossierCheck.create_id("kantoor-a", "d-new-7")) == found["d-new-7"]
    # Kept in memory: a consumer asking right after gets them without a query.
    assert keys.kept("kantoor-a", wanted) == found
    assert keys.kept("kantoor-a", ["d-new-1", "d-never-made"]) is None
    assert keys.kept("kantoor-b", ["d-new-1"]) is None


def test_ensure_makes_the_keys_of_a_saved_batch_at_once(database: _Database) -> None:
    counted = Counting(database)
    keys = DataKeys(KeyEncryptionKeys({"kek-1": os.urandom(32)}), counted)
    checks = [DossierCheck("kantoor-a", f"d-{i}") for i in range(20)]
    checks += [DossierCheck("kantoor-b", f"d-{i}") for i in range(5)]
    counted.writes = 0

    keys.ensure(checks)
    assert counted.writes == 2  # one transaction per office
    keys.ensure(checks)
    assert counted.writes == 2  # kept: nothing asked again
    fresh = DataKeys(keys.keks, database)
    for check in checks:
        key = fresh.key_of(check.id, fresh=True)
        assert isinstance(key, bytes) and key == keys.key_of(check.id)
    assert fresh.key_of(checks[0].id) != fresh.key_of(checks[-1].id)
