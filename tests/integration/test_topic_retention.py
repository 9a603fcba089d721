"""Rebuilding from the topics misses nothing: our `.v1` topics keep every record, and a service
reports a topic that would delete older records (checked on the real broker)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY as METRICS

from devtools import Broker, align_topic_configs
from devtools import topics as local_topics
from servicekit import topicconfig
from servicekit.topicconfig import check_topics, describe_topic_configs
from shared.events import topics
from shared.events.topics import TopicSettings

pytestmark = pytest.mark.kafka

SEVEN_DAYS_MS = str(7 * 24 * 3600 * 1000)


async def _create(bootstrap_servers: str, name: str, config: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=config)])
    finally:
        await admin.close()
    # The new topic reaches the broker's metadata a moment later.
    for _ in range(100):
        if (await describe_topic_configs(bootstrap_servers, [name]))[name] is not None:
            return
        await asyncio.sleep(0.1)


async def test_our_topics_are_created_to_keep_their_history(kafka: Broker) -> None:
    if kafka.kind == "external":
        pytest.skip("the topics of an external broker were made by someone else")
    configs = await describe_topic_configs(kafka.bootstrap_servers, topics.REGISTRY)
    for name in (topics.SCENARIO, topics.DOSSIERCONTROLE):
        found = configs[name]
        assert found is not None, name
        assert (found["retention.ms"], found["retention.bytes"]) == ("-1", "-1"), name


async def test_a_topic_that_deletes_after_seven_days_is_reported(
    kafka: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A platform team created our topic with the broker's default of seven days.
    name = f"actiepunten.retention-test-{uuid.uuid4().hex[:8]}.v1"
    monkeypatch.setitem(topicconfig.REGISTRY, name, TopicSettings(name, "actiepunten"))
    await _create(kafka.bootstrap_servers, name, {"retention.ms": SEVEN_DAYS_MS})

    # The service starting on it says so, loudly, and keeps working.
    with caplog.at_level(logging.ERROR, logger="servicekit.topicconfig"):
        problems = await check_topics(kafka.bootstrap_servers, [name])

    [problem] = problems
    assert (problem.topic, problem.setting) == (name, "retention.ms")
    assert (problem.found, problem.expected) == (SEVEN_DAYS_MS, "-1")
    [line] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert name in line.getMessage()
    assert SEVEN_DAYS_MS in line.getMessage() and "-1" in line.getMessage()
    labels = {"topic": name, "setting": "retention.ms"}
    assert METRICS.get_sample_value("actiepunten_topic_config_wrong", labels) == 1

    # On a broker we run ourselves, `actiepunten broker` puts it right.
    monkeypatch.setitem(local_topics.TOPIC_CONFIGS, name, dict(topics.KEEP_FOREVER))
    assert name in await align_topic_configs(kafka.bootstrap_servers)
    assert await check_topics(kafka.bootstrap_servers, [name]) == []
    assert METRICS.get_sample_value("actiepunten_topic_config_wrong", labels) == 0


async def test_a_missing_topic_is_reported(kafka: Broker, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"actiepunten.missing-{uuid.uuid4().hex[:8]}.v1"
    monkeypatch.setitem(topicconfig.REGISTRY, name, TopicSettings(name, "actiepunten"))

    problems = await check_topics(kafka.bootstrap_servers, [name])

    assert {(p.setting, p.found) for p in problems} == {
        ("retention.ms", None),
        ("retention.bytes", None),
    }
    assert "does not exist" in str(problems[0])
