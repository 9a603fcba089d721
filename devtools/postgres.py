"""A throwaway PostgreSQL server from the local binaries, for tests and the crash run.

pytest-postgresql runs ``pg_ctl`` as the current user, and PostgreSQL refuses to run as root,
which is who CI runs as; so this module starts it itself, as the ``postgres`` system user when
it is root. Trust authentication on loopback only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "pg_ctl").exists():
            return candidate
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


def available() -> bool:
    return _bindir() is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str
    data_dir: Path
    _bindir: Path

    def env(self) -> dict[str, str]:
        """The service environment that points event stores and the portal at this server."""
        return {
            "ACTIEPUNTEN_PERSISTENCE": "postgres",
            "ACTIEPUNTEN_POSTGRES_HOST": self.host,
            "ACTIEPUNTEN_POSTGRES_PORT": str(self.port),
            "ACTIEPUNTEN_POSTGRES_USER": self.user,
            "ACTIEPUNTEN_POSTGRES_PASSWORD": "",
            "ACTIEPUNTEN_POSTGRES_DBNAME": self.dbname,
        }

    def _ctl(self, *args: str) -> None:
        _run_as_owner([str(self._bindir / "pg_ctl"), "-D", str(self.data_dir / "pgdata"), *args])

    def start(self) -> None:
        self._ctl(
            "-l",
            str(self.data_dir / "postgres.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -h {self.host} -k {self.data_dir} -c fsync=off",
            "start",
        )

    def stop(self) -> None:
        if (self.data_dir / "pgdata" / "postmaster.pid").exists():
            self._ctl("-m", "fast", "-w", "stop")

    def create_database(self, dbname: str) -> dict[str, str]:
        """A new empty database on this server; returns the service environment for it."""
        subprocess.run(
            [
                str(self._bindir / "createdb"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                dbname,
            ],
            check=True,
            capture_output=True,
        )
        return {**self.env(), "ACTIEPUNTEN_POSTGRES_DBNAME": dbname}

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _run_as_owner(argv: list[str]) -> None:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr or result.stdout}")


def start_throwaway(dbname: str = "actiepunten") -> PostgresServer:
    """initdb in a new temp dir, start on a free loopback port, create ``dbname``.

    The caller stops it and may remove ``data_dir``. The folder is made directly under the
    system temp dir, because the ``postgres`` user cannot enter root's private temp folders.
    """
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL binaries found (apt-get install postgresql)")
    data_dir = Path(tempfile.mkdtemp(prefix="actiepunten-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    user = "postgres"
    _run_as_owner(
        [
            str(bindir / "initdb"),
            "-D",
            str(data_dir / "pgdata"),
            "-U",
            user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]
    )
    server = PostgresServer("127.0.0.1", _free_port(), user, dbname, data_dir, bindir)
    server.start()
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                server.host,
                "-p",
                str(server.port),
                "-U",
                user,
                dbname,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            return server
        if time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {result.stderr}")
        time.sleep(0.3)
