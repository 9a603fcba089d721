"""How every Kafka client of ours connects: the one place that turns the ``KAFKA_*`` and
``ACTIEPUNTEN_KAFKA_*`` settings into client options (SPEC section 10).

``client_options(connection)`` gives the keyword arguments of aiokafka's producer, consumer,
admin client and low-level client; ``faststream_security(connection)`` the same for a FastStream
broker. Callers that only have a bootstrap string (local brokers, the tests) pass the string:
it means PLAINTEXT.

A password is read from its file each time a client is made, so that a rotated Secret is
picked up by the next client; the files are checked when the client is made, and an unreadable
one is a `KafkaSettingError` naming the variable and the path.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
MECHANISMS = ("SCRAM-SHA-512", "PLAIN")
PREFIX = "ACTIEPUNTEN_KAFKA_"


class KafkaSettingError(SystemExit):
    """A Kafka security setting that cannot be used; the message names the variable.

    A SystemExit, like the other settings' refusals (``servicekit.settings``): the service
    stops at start-up with this one line.
    """


def _refuse(variable: str, value: str, expected: str) -> KafkaSettingError:
    return KafkaSettingError(f"{PREFIX}{variable}={value!r} is not valid: expected {expected}")


@dataclass(frozen=True)
class KafkaSecurity:
    """``ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL`` and what it needs; PLAINTEXT by default."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password_file: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in {"SSL", "SASL_SSL"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> KafkaSecurity:
        """Read and check the settings; a malformed or incomplete one stops the service."""

        def value(name: str) -> str | None:
            return environ.get(PREFIX + name, "").strip() or None

        protocol = (value("SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise _refuse("SECURITY_PROTOCOL", protocol, " or ".join(PROTOCOLS))
        security = cls(
            protocol=protocol,
            sasl_mechanism=(value("SASL_MECHANISM") or "").upper() or None,
            sasl_username=value("SASL_USERNAME"),
            sasl_password_file=value("SASL_PASSWORD_FILE"),
            ssl_cafile=value("SSL_CAFILE"),
            ssl_certfile=value("SSL_CERTFILE"),
            ssl_keyfile=value("SSL_KEYFILE"),
        )
        security.check()
        return security

    def check(self) -> None:
        """What a protocol needs is there, and what it cannot use is not set."""
        if self.sasl_mechanism is not None and self.sasl_mechanism not in MECHANISMS:
            raise _refuse("SASL_MECHANISM", self.sasl_mechanism, " or ".join(MECHANISMS))
        if self.uses_sasl:
            for name, setting in (
                ("SASL_MECHANISM", self.sasl_mechanism),
                ("SASL_USERNAME", self.sasl_username),
                ("SASL_PASSWORD_FILE", self.sasl_password_file),
            ):
                if setting is None:
                    raise KafkaSettingError(f"{PREFIX}{name} is needed with {self.protocol}")
        if not self.uses_tls:
            for name, setting in self._tls_files().items():
                if setting is not None:
                    raise _refuse(name, setting, f"unset with {self.protocol} (no TLS)")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise KafkaSettingError(
                f"{PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE go together (mutual TLS)"
            )

    def _tls_files(self) -> dict[str, str | None]:
        return {
            "SSL_CAFILE": self.ssl_cafile,
            "SSL_CERTFILE": self.ssl_certfile,
            "SSL_KEYFILE": self.ssl_keyfile,
        }

    def password(self) -> str:
        """The SASL password, read from its file now (a rotated Secret counts from here)."""
        assert self.sasl_password_file is not None
        return _read("SASL_PASSWORD_FILE", self.sasl_password_file).strip()

    def ssl_context(self) -> ssl.SSLContext:
        """TLS that verifies the broker (with ``SSL_CAFILE``, else the system's CAs) and
        presents our certificate when one is given."""
        for name, path in self._tls_files().items():
            if path is not None:
                _read(name, path)
        try:
            return create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        except ssl.SSLError as error:
            raise KafkaSettingError(
                f"{PREFIX}SSL_CAFILE/SSL_CERTFILE/SSL_KEYFILE could not be used: {error}"
            ) from None


def _read(variable: str, path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise KafkaSettingError(
            f"{PREFIX}{variable}={path!r} cannot be read: {error.strerror or error}"
        ) from None


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is (``KAFKA_BOOTSTRAP_SERVERS``) and how to reach it."""

    bootstrap_servers: str
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> KafkaConnection:
        return cls(
            environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            KafkaSecurity.from_env(environ),
        )

    @property
    def servers(self) -> list[str]:
        """``KAFKA_BOOTSTRAP_SERVERS`` as a list (it is comma-separated)."""
        return [server.strip() for server in self.bootstrap_servers.split(",") if server.strip()]

    @property
    def principal(self) -> str:
        """Who the broker sees, for messages: ``User:<name>``, or ANONYMOUS without SASL."""
        return f"User:{self.security.sasl_username}" if self.security.uses_sasl else "ANONYMOUS"


def connection_of(kafka: KafkaConnection | str) -> KafkaConnection:
    """A bootstrap string alone means PLAINTEXT (a local broker, the tests)."""
    return kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)


def client_options(kafka: KafkaConnection | str) -> dict[str, Any]:
    """The connection options of every aiokafka client (producer, consumer, admin, client)."""
    connection = connection_of(kafka)
    security = connection.security
    options: dict[str, Any] = {
        # A list: FastStream takes a string as one address, so "a:9092,b:9092" (every
        # production cluster) would be looked up as a single host name.
        "bootstrap_servers": connection.servers,
        "security_protocol": security.protocol,
    }
    if security.uses_tls:
        options["ssl_context"] = security.ssl_context()
    if security.uses_sasl:
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.password()
    return options


def faststream_security(kafka: KafkaConnection | str) -> BaseSecurity | None:
    """`client_options` as FastStream takes them (its ``security`` turns back into the same
    aiokafka options). FastStream is imported here, not above: settings read this module, and a
    command that needs no FastStream (``replay portal``) starts without it."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512

    options = client_options(kafka)
    tls = options.get("ssl_context")
    if "sasl_mechanism" not in options:
        return BaseSecurity(ssl_context=tls) if tls is not None else None
    kind = SASLScram512 if options["sasl_mechanism"] == "SCRAM-SHA-512" else SASLPlaintext
    return kind(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=tls,
        use_ssl=tls is not None,
    )
