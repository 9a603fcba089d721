"""psycopg runs its C extension wherever `make venv` could build it (extra ``pg-c``): its
pure-Python layer was a third to half of the services' CPU on PostgreSQL (issue 21)."""

from __future__ import annotations

import shutil

import psycopg
import pytest


def test_psycopg_runs_its_c_extension_where_the_venv_could_build_it() -> None:
    if not (shutil.which("pg_config") and shutil.which("cc")):
        pytest.skip("no C compiler or libpq headers here: psycopg's pure-Python layer runs")
    assert psycopg.pq.__impl__ == "c"
