"""Start-up on a fresh machine or database: data folders only the service's user can read, and
a first connection to PostgreSQL that waits for the database rather than crashing."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import psycopg
import pytest

from servicekit.datadir import private_dir
from servicekit.pgsetup import first_connection


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folders_are_made_readable_by_the_service_alone(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # a usual umask: new folders readable by everybody
    try:
        made = private_dir(tmp_path / "data" / "blobs" / "ab")
    finally:
        os.umask(previous)

    assert made.is_dir()
    for folder in (tmp_path / "data", tmp_path / "data" / "blobs", made):
        assert mode(folder) == 0o700, folder


def test_a_folder_that_exists_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    chosen = tmp_path / "shared-data"
    chosen.mkdir(mode=0o750)
    chosen.chmod(0o750)

    private_dir(chosen)

    assert mode(chosen) == 0o750


def test_the_first_connection_waits_for_a_database_that_is_starting() -> None:
    attempts: list[dict[str, Any]] = []
    slept: list[float] = []

    def connect(**params: Any) -> str:
        attempts.append(params)
        if len(attempts) < 4:
            raise psycopg.OperationalError("the database system is starting up")
        return "connection"

    assert first_connection({"host": "db"}, connect=connect, sleep=slept.append) == "connection"
    assert len(attempts) == 4
    assert slept == [0.5, 1.0, 2.0]  # backing off
    assert attempts[-1] == {"host": "db", "autocommit": True}


def test_a_database_that_never_comes_stops_the_start_with_its_error() -> None:
    def connect(**params: Any) -> str:
        raise psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError, match="connection refused"):
        first_connection({"host": "db"}, seconds=0.0, connect=connect, sleep=lambda _: None)
