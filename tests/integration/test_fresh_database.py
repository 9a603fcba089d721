"""Replicas that start together on a fresh PostgreSQL database (a first deployment, two or
three replicas of every service at once) all come up: the schemas and tables are created under
one advisory lock, not raced (``servicekit/pgsetup.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from unittest import mock

import pytest

from devtools import Broker
from devtools.postgres import PostgresServer
from servicekit.pgsetup import setup_lock
from servicekit.settings import Settings
from services.dossiercontrole_service.main import create_app
from tests.support import ROOT, System, free_port

pytestmark = pytest.mark.kafka

SERVICES = ("portal",)
"""The one with the most schemas and tables of its own (read model, its meta, sign-ins)."""


def test_two_portal_replicas_start_at_once_on_a_fresh_database(
    kafka: Broker, postgres: PostgresServer, tmp_path: Path
) -> None:
    fresh = postgres.create_database(f"fresh_{uuid.uuid4().hex[:12]}")
    system = System(kafka.bootstrap_servers, tmp_path, extra_env=fresh)
    try:
        # Every replica is started before any is waited for.
        for service in SERVICES:
            for replica in (1, 2):
                name = f"{service}-{replica}"
                system.ports[name] = free_port()
                env = {**system.env, f"ACTIEPUNTEN_{service.upper()}_PORT": str(system.ports[name])}
                system.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "actiepunten", "serve", service],
                    env=env,
                    stdout=(tmp_path / f"{name}.log").open("ab"),
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,
                )
        for name in list(system.processes):
            system.wait_healthy(name, timeout=120)
        for name, process in system.processes.items():
            assert process.poll() is None, system.log(name)
            assert "Traceback" not in system.log(name), system.log(name)
    finally:
        system.stop()


def test_six_start_ups_at_the_same_moment_each_find_or_make_the_store(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # Without the lock, this raced into "duplicate key ... pg_type_typname_nsp_index" or
    # "tuple concurrently updated" on most attempts.
    fresh = postgres.create_database(f"race_{uuid.uuid4().hex[:12]}")
    env = {**fresh, "ACTIEPUNTEN_JWT_SECRET": "s" * 40, "ACTIEPUNTEN_DATA_DIR": str(tmp_path)}
    with mock.patch.dict(os.environ, env):
        settings = Settings.from_env("dossiercontrole")
    together = threading.Barrier(6)
    failures: list[BaseException] = []

    def start_up() -> None:
        together.wait()
        try:
            with setup_lock(settings):
                app = create_app(settings)
            app.state.application.close()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
