"""Configuration from the environment, the same variables for every service (see README)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servicekit.kafkaclient import KafkaConnection, KafkaSecurity
from servicekit.services import SERVICES

if TYPE_CHECKING:
    from servicekit.oidc import OidcSettings

DEFAULT_PORTS = {name: service.port for name, service in SERVICES.items()}
"""Each service's port when ``ACTIEPUNTEN_<SERVICE>_PORT`` is unset (``servicekit.services``)."""


_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def _refuse(name: str, value: str, expected: str) -> SystemExit:
    """The start-up failure for a malformed setting: it names the variable and its value.

    A SystemExit, so that ``actiepunten serve`` exits with this line (status 1), not a traceback:
    in Kubernetes, a Service named like a setting injects ``<NAME>_PORT=tcp://...`` into every
    pod unless the pod spec says ``enableServiceLinks: false``.
    """
    return SystemExit(f"{name}={value!r} is not valid: expected {expected}")


def flag(name: str, default: bool) -> bool:
    """A yes/no setting (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``, any case);
    unset: ``default``; anything else stops the service naming the variable."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise _refuse(name, value, "true or false")


def whole(name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """A whole number from ``low`` to ``high`` (no upper bound when None)."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    expected = f"a whole number from {low}" + ("" if high is None else f" to {high}")
    try:
        number = int(value)
    except ValueError:
        raise _refuse(name, value, expected) from None
    if number < low or (high is not None and number > high):
        raise _refuse(name, value, expected)
    return number


def _seconds(name: str, default: float) -> float:
    """A duration in seconds, zero or more."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise _refuse(name, value, "a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise _refuse(name, value, "a number of seconds")
    return seconds


def _oidc_from_env() -> OidcSettings | None:
    if not os.environ.get("ACTIEPUNTEN_OIDC_ISSUER", "").strip():
        return None  # no provider: a command starts without httpx and jwt (~0.1 s)
    from servicekit.oidc import OidcSettings

    return OidcSettings.from_env()


def port_number(name: str, default: int) -> int:
    """A TCP port from the environment (0: any free one)."""
    return whole(name, default, high=65535)


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
    oidc: OidcSettings | None = None
    """The office's OpenID provider (``ACTIEPUNTEN_OIDC_*``), or None: HS256 tokens only."""
    api_docs: bool = True
    """``/docs``, ``/redoc`` and ``/openapi.json`` served (``ACTIEPUNTEN_API_DOCS``; the
    Kubernetes manifests turn them off)."""
    consumer_group: str = ""
    shutdown_grace_seconds: float = 20.0
    shutdown_drain_seconds: float = 0.0
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    postgres_pool_size: int = 5
    postgres_max_overflow: int = 10

    @property
    def kafka(self) -> KafkaConnection:
        """Where Kafka is and how every client of this service connects
        (``servicekit.kafkaclient.client_options``)."""
        return KafkaConnection(self.kafka_bootstrap_servers, self.kafka_security)

    @classmethod
    def from_env(cls, service: str, *, require_secret: bool = True) -> Settings:
        secret = os.environ.get("ACTIEPUNTEN_JWT_SECRET", "")
        if not secret and require_secret:
            raise SystemExit("ACTIEPUNTEN_JWT_SECRET is not set; `make run` makes one for you")
        if require_secret:
            from servicekit.auth import check_secret

            check_secret(secret)
        prefix = f"ACTIEPUNTEN_{service.upper()}_"
        persistence = os.environ.get("ACTIEPUNTEN_PERSISTENCE", "sqlite")
        if persistence not in {"sqlite", "postgres"}:
            raise SystemExit(
                f"ACTIEPUNTEN_PERSISTENCE must be sqlite or postgres, not {persistence!r}"
            )
        port_number("ACTIEPUNTEN_POSTGRES_PORT", 5432)  # refused now, not at the first connection
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
            port=port_number(prefix + "PORT", DEFAULT_PORTS.get(service, 8000)),
            kafka_idempotence=flag("ACTIEPUNTEN_KAFKA_IDEMPOTENCE", True),
            persistence=persistence,
            postgres=postgres,
            max_upload_bytes=whole("ACTIEPUNTEN_MAX_UPLOAD_BYTES", 20 * 1024 * 1024, low=1),
            max_dossier_upload_bytes=whole(
                "ACTIEPUNTEN_MAX_DOSSIER_UPLOAD_BYTES", 1024 * 1024 * 1024, low=1
            ),
            oidc=_oidc_from_env(),
            api_docs=flag("ACTIEPUNTEN_API_DOCS", True),
            consumer_group=os.environ.get(prefix + "GROUP", f"actiepunten.{service}"),
            shutdown_grace_seconds=_seconds("ACTIEPUNTEN_SHUTDOWN_GRACE_SECONDS", 20.0),
            shutdown_drain_seconds=_seconds("ACTIEPUNTEN_SHUTDOWN_DRAIN_SECONDS", 0.0),
            kafka_security=KafkaSecurity.from_env(),
            postgres_pool_size=whole("ACTIEPUNTEN_POSTGRES_POOL_SIZE", 5, low=1),
            postgres_max_overflow=whole("ACTIEPUNTEN_POSTGRES_MAX_OVERFLOW", 10),
        )

    def postgres_params(self) -> dict[str, Any]:
        """psycopg connection parameters from ``ACTIEPUNTEN_POSTGRES_*``."""
        pg = self.postgres
        return {
            "host": pg.get("HOST", "127.0.0.1"),
            "port": int(pg.get("PORT") or "5432"),
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
            from servicekit.pgpool import cap_reconnect_delay

            cap_reconnect_delay()
            self._create_schema(f"actiepunten_{self.service}")
            env = {
                "PERSISTENCE_MODULE": "servicekit.postgres_store",
                "POSTGRES_SCHEMA": f"actiepunten_{self.service}",
                "POSTGRES_CONNECT_TIMEOUT": "2",
                "POSTGRES_PRE_PING": "y",
                # Connections kept open, and opened beyond them under load (closed after):
                # what max_connections must hold per process (deploy/README.md).
                "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
                "POSTGRES_MAX_OVERFLOW": str(self.postgres_max_overflow),
            }
            env.update({f"POSTGRES_{k}": v for k, v in self.postgres.items()})
            env.setdefault("POSTGRES_DBNAME", "actiepunten")
            return env
        from servicekit.datadir import private_dir

        private_dir(self.data_dir)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.data_dir / f"{name}.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "30",
        }


def service_url(service: str) -> str:
    """Base URL of another service: ``ACTIEPUNTEN_<SERVICE>_URL``, else its host and port."""
    explicit = os.environ.get(f"ACTIEPUNTEN_{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    other = Settings.from_env(service, require_secret=False)
    host = "127.0.0.1" if other.host in {"", "0.0.0.0", "::"} else other.host
    port = other.port or DEFAULT_PORTS[service]
    return f"http://{host}:{port}"
