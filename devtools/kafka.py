"""Apache Kafka in KRaft mode for `make run` and the tests, from jars that Maven fetches once
into the cache folder. Data lives in the data dir and survives `restart()`."""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from devtools.brokers import (
    Broker,
    BrokerError,
    ChildProcess,
    cache_dir,
    free_port,
    start_local,
    tail,
    wait_for_port,
    wait_ready,
)
from servicekit.kafkaclient import KafkaConnection

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"
SCALA_VERSION = "2.13"

# 90 s was enough when idle; a start took 60 s on this 2-CPU machine under load from other tests.
_READY_TIMEOUT_S = 120.0
_MVN_TIMEOUT_S = 900.0


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
        self.controller_port = self._recorded_controller_port() or free_port()
        while self.controller_port == port:
            self.controller_port = free_port()
        self.libs = kafka_libs()
        self.log4j = self.data_dir / "kafka-log4j2.properties"
        self.log_file = self.data_dir / "kafka.log"
        self.console_file = self.data_dir / "kafka-console.log"
        self._process: ChildProcess | None = None
        self.cluster_id = _kafka_uuid()  # the nodes of one cluster share it (devtools.cluster)
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

    def _settings(self) -> dict[str, str]:
        """The broker's server.properties; a secured broker (devtools.secured) adds to them."""
        return {
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

    def _format_options(self) -> list[str]:
        """More options of the storage format step (a secured broker's first SCRAM user)."""
        return []

    def connection(self) -> KafkaConnection | str:
        """How the launcher itself reaches the broker (readiness, topics): PLAINTEXT here."""
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = self._settings()
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.log4j.write_text(_LOG4J2.format(log_file=self.log_file))

    def _format_storage(self) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        cmd = [
            *self._java(), "-Xmx256m", "-XX:+UseSerialGC", "kafka.tools.StorageTool",
            "format", "-t", self.cluster_id, "-c", str(self.properties), *self._format_options(),
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise BrokerError(
                "formatting the Kafka storage failed:\n" + (result.stdout + result.stderr)[-3000:]
            )

    def start(self) -> None:
        self.launch()
        self.await_ready()

    def launch(self) -> None:
        """Start the JVM (formatting the storage the first time), without waiting for it: the
        nodes of a cluster answer only once a majority of their controllers runs."""
        wait_for_port(self.port)
        wait_for_port(self.controller_port, "Kafka controller")
        self._write_config()
        self._format_storage()
        argv = [
            *self._java(), "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseSerialGC",
            "kafka.Kafka", str(self.properties),
        ]  # fmt: skip
        self._process = ChildProcess(argv, self.console_file, self.data_dir)
        self._process.start()

    heap = "768m"

    def await_ready(self) -> None:
        """Block until the broker answers metadata requests (stopping it if it never does)."""
        assert self._process is not None
        try:
            wait_ready(
                self.connection(),
                timeout=_READY_TIMEOUT_S,
                alive=self._process.alive,
                describe=lambda: tail(self.log_file) + "\n" + tail(self.console_file, 20),
            )
        except BaseException:
            self.stop()
            raise

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """SIGKILL, as a crashed machine: nothing is flushed or handed over."""
        if self._process is not None:
            self._process.kill()

    def restart(self) -> None:
        self.stop()
        # Same ports and data dir; the storage is already formatted, so start() skips that.
        self.start()


def start_apache_kafka(data_dir: Path, port: int | None) -> Broker:
    if not shutil.which("java"):
        raise BrokerError("Apache Kafka needs `java` (17 or later) on PATH")
    return start_local(
        "apache-kafka", lambda chosen: _ApacheKafka(data_dir, chosen), port, idempotence=True
    )
