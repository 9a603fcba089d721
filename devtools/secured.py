"""Apache Kafka as a production cluster is secured, for the tests (SPEC section 10): one KRaft
node whose only client listener is SASL_SSL with SCRAM-SHA-512 over mutual TLS, the standard
authorizer, a SCRAM user per service with the least ACLs of ``servicekit.kafkaacls``.

A throwaway CA signs the broker's certificate (``localhost``, ``127.0.0.1``) and one client
certificate, made with ``openssl``. The super user ``admin`` is created at the storage format
step (KRaft's ``--add-scram``); the services' users and their ACLs with the Admin API once the
broker runs (``KafkaAccess.java``, one JVM). The controller listener stays PLAINTEXT on the
loopback address: the broker registers with its controller as ANONYMOUS, so that principal is a
super user there (a local test broker; never a production setting).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devtools.brokers import BrokerError, choose_port
from devtools.kafka import _ApacheKafka
from servicekit.kafkaacls import service_acls, user_name
from servicekit.kafkaclient import KafkaConnection, KafkaSecurity
from servicekit.services import SERVICES

ADMIN = "admin"
_ACCESS_TOOL = Path(__file__).resolve().parent / "KafkaAccess.java"


@dataclass(frozen=True)
class Tls:
    """The CA, the broker's key and certificate chain in one PEM file, a client's pair."""

    ca: Path
    broker: Path
    client_cert: Path
    client_key: Path


def make_tls(folder: Path) -> Tls:
    """A throwaway CA, the broker's certificate and a client certificate (two days valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError("the secured Kafka needs `openssl` on PATH for its certificates")

    def run(*args: str) -> None:
        result = subprocess.run([openssl, *args], cwd=folder, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(f"openssl {args[0]} failed: {result.stderr[-2000:]}")

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=actiepunten-test-ca", "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    for name, usage in (("broker", "serverAuth,clientAuth"), ("client", "clientAuth")):
        (folder / f"{name}.ext").write_text(
            f"subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\n"
        )
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
            "-out", f"{name}.crt")  # fmt: skip
    # Kafka's PEM key store: the PKCS#8 key and the certificate chain in one file.
    broker = folder / "broker.pem"
    broker.write_text((folder / "broker.key").read_text() + (folder / "broker.crt").read_text())
    return Tls(folder / "ca.crt", broker, folder / "client.crt", folder / "client.key")


class _SecuredKafka(_ApacheKafka):
    """`_ApacheKafka` with a SASL_SSL listener, SCRAM-SHA-512, mutual TLS and ACLs."""

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(data_dir, port)
        self.tls = make_tls(self.data_dir / "tls")
        self.secrets = self.data_dir / "secrets"
        self.secrets.mkdir(exist_ok=True, mode=0o700)
        self.admin_password = self.password_of(ADMIN)

    def password_of(self, user: str) -> str:
        """A user's password, made once and kept in a file (what ``_SASL_PASSWORD_FILE`` reads)."""
        path = self.password_file(user)
        if not path.exists():
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        return path.read_text()

    def password_file(self, user: str) -> Path:
        return self.secrets / f"{user}.password"

    def _settings(self) -> dict[str, str]:
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{self.admin_password}";'
        )
        return {
            **super()._settings(),
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.broker),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca),
            "ssl.client.auth": "required",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _format_options(self) -> list[str]:
        return ["--add-scram", f"SCRAM-SHA-512=[name={ADMIN},password={self.admin_password}]"]

    def connection_as(self, user: str) -> KafkaConnection:
        """How ``user`` connects: SASL_SSL, SCRAM-SHA-512, the CA and the client certificate."""
        return KafkaConnection(
            f"127.0.0.1:{self.port}",
            KafkaSecurity(
                protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-512",
                sasl_username=user,
                sasl_password_file=str(self.password_file(user)),
                ssl_cafile=str(self.tls.ca),
                ssl_certfile=str(self.tls.client_cert),
                ssl_keyfile=str(self.tls.client_key),
            ),
        )

    def connection(self) -> KafkaConnection:
        return self.connection_as(ADMIN)

    def grant_services(self) -> str:
        """Create each service's SCRAM user and its ACLs (Admin API, one JVM)."""
        lines = [f"user {user_name(s)} {self.password_of(user_name(s))}" for s in SERVICES]
        for service in SERVICES:
            principal = f"User:{user_name(service)}"
            for acl in service_acls(service):
                for operation in acl.operations:
                    lines.append(
                        f"acl {principal} {acl.resource.upper()} {acl.name} LITERAL "
                        f"{_enum_name(operation)}"
                    )
        return self._access(lines)

    def _access(self, lines: list[str]) -> str:
        admin = self.data_dir / "admin.properties"
        settings = self._settings()
        admin.write_text(
            f"bootstrap.servers=127.0.0.1:{self.port}\n"
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
            f"sasl.jaas.config={settings['listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config']}\n"
            f"ssl.keystore.type=PEM\nssl.keystore.location={self.tls.broker}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={self.tls.ca}\n"
        )
        cmd = [*self._java(), "-Xmx256m", "-XX:+UseSerialGC", str(_ACCESS_TOOL), str(admin)]
        result = subprocess.run(
            cmd, input="\n".join(lines), capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0:
            raise BrokerError("creating users and ACLs failed:\n" + result.stderr[-3000:])
        return result.stdout.strip()


def _enum_name(operation: str) -> str:
    """Strimzi's ``DescribeConfigs`` as the Java client's ``DESCRIBE_CONFIGS``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).upper()


@dataclass
class SecuredKafka:
    """A running secured broker: how the admin and each service connect to it."""

    runner: _SecuredKafka

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.runner.port}"

    @property
    def admin(self) -> KafkaConnection:
        return self.runner.connection()

    def connection_of(self, service: str) -> KafkaConnection:
        return self.runner.connection_as(user_name(service))

    def env_of(self, service: str) -> dict[str, str]:
        """The environment that makes a service connect as its own user."""
        security = self.connection_of(service).security
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "ACTIEPUNTEN_KAFKA_SECURITY_PROTOCOL": security.protocol,
            "ACTIEPUNTEN_KAFKA_SASL_MECHANISM": str(security.sasl_mechanism),
            "ACTIEPUNTEN_KAFKA_SASL_USERNAME": str(security.sasl_username),
            "ACTIEPUNTEN_KAFKA_SASL_PASSWORD_FILE": str(security.sasl_password_file),
            "ACTIEPUNTEN_KAFKA_SSL_CAFILE": str(security.ssl_cafile),
            "ACTIEPUNTEN_KAFKA_SSL_CERTFILE": str(security.ssl_certfile),
            "ACTIEPUNTEN_KAFKA_SSL_KEYFILE": str(security.ssl_keyfile),
        }

    def stop(self) -> None:
        self.runner.stop()


def start_secured_kafka(data_dir: Path, port: int | None = None) -> SecuredKafka:
    """Start the secured broker, then create the services' users and ACLs."""
    if not shutil.which("java"):
        raise BrokerError("Apache Kafka needs `java` (17 or later) on PATH")
    runner = _SecuredKafka(data_dir, choose_port(port))
    runner.start()
    try:
        runner.grant_services()
    except BaseException:
        runner.stop()
        raise
    return SecuredKafka(runner)
