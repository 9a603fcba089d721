"""Configuration from the environment, the same variables for every service (see README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicekit.services import SERVICES

DEFAULT_PORTS = {name: service.port for name, service in SERVICES.items()}
"""Each service's port when ``ACTIEPUNTEN_<SERVICE>_PORT`` is unset (``servicekit.services``)."""


def flag(name: str, default: bool) -> bool:
    """A yes/no setting: ``1``, ``true``, ``yes``, ``on`` (any case) are yes; unset: ``default``."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "y", "on"}


@dataclass(frozen=True)
class Settings:
    """What one service process needs to know; ``from_env`` is the only constructor in use."""

    service: str
    data_dir: Path
    kafka_bootstrap_servers: str
    jwt_secret: str
    host: str = "127.0.0.1"
    port: int = 8000
    kafka_idempotence: bool = True
    persistence: str = "sqlite"
    postgres: dict[str, str] = field(default_factory=dict)
    max_upload_bytes: int = 20 * 1024 * 1024
    max_dossier_upload_bytes: int = 1024 * 1024 * 1024
    consumer_group: str = ""
    shutdown_grace_seconds: float = 20.0
    shutdown_drain_seconds: float = 0.0

    @classmethod
    def from_env(cls, service: str, *, require_secret: bool = True) -> Settings:
        secret = os.environ.get("ACTIEPUNTEN_JWT_SECRET", "")
        if not secret and require_secret:
            raise SystemExit("ACTIEPUNTEN_JWT_SECRET is not set; `make run` makes one for you")
        prefix = f"ACTIEPUNTEN_{service.upper()}_"
        persistence = os.environ.get("ACTIEPUNTEN_PERSISTENCE", "sqlite")
        if persistence not in {"sqlite", "postgres"}:
            raise SystemExit(
                f"ACTIEPUNTEN_PERSISTENCE must be sqlite or postgres, not {persistence!r}"
            )
        postgres = {
            key: os.environ[f"ACTIEPUNTEN_POSTGRES_{key}"]
            for key in ("HOST", "PORT", "USER", "PASSWORD", "DBNAME")
            if f"ACTIEPUNTEN_POSTGRES_{key}" in os.environ
        }
        return cls(
            service=service,
            data_dir=Path(os.environ.get("ACTIEPUNTEN_DATA_DIR", ".data")).resolve(),
            kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            jwt_secret=secret,
            host=os.environ.get(prefix + "HOST", os.environ.get("ACTIEPUNTEN_HOST", "127.0.0.1")),
            port=int(os.environ.get(prefix + "PORT", DEFAULT_PORTS.get(service, 8000))),
            kafka_idempotence=flag("ACTIEPUNTEN_KAFKA_IDEMPOTENCE", True),
            persistence=persistence,
            postgres=postgres,
            max_upload_bytes=int(os.environ.get("ACTIEPUNTEN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)),
            max_dossier_upload_bytes=int(
                os.environ.get("ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES", 1024 * 1024 * 1024)
            ),
            consumer_group=os.environ.get(prefix + "GROUP", f"actiepunten.{service}"),
            shutdown_grace_seconds=float(
                os.environ.get("ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS", "20")
            ),
            shutdown_drain_seconds=float(os.environ.get("ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS", "0")),
        )

    def postgres_params(self) -> dict[str, Any]:
        """psycopg connection parameters from ``ACTIEPUNTEN_POSTGRES_*``."""
        pg = self.postgres
        return {
            "host": pg.get("HOST", "127.0.0.1"),
            "port": int(pg.get("PORT", "5432")),
            "user": pg.get("USER", "postgres"),
            "password": pg.get("PASSWORD") or None,
            "dbname": pg.get("DBNAME", "actiepunten"),
            "connect_timeout": 5,
        }

    def _create_schema(self, schema: str) -> None:
        # eventsourcing creates its tables, not the schema they live in.
        import psycopg

        with psycopg.connect(**self.postgres_params(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def eventstore_env(self, name: str) -> dict[str, str]:
        """The `eventsourcing` environment for the store called ``name`` of this service.

        SQLite: one file per store under the data dir. PostgreSQL: one schema per service.
        """
        if self.persistence == "postgres":
            self._create_schema(f"actiepunten_{self.service}")
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_SCHEMA": f"actiepunten_{self.service}",
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "POSTGRES_PRE_PING": "y",
            }
            env.update({f"POSTGRES_{k}": v for k, v in self.postgres.items()})
            env.setdefault("POSTGRES_DBNAME", "actiepunten")
            return env
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.data_dir / f"{name}.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
