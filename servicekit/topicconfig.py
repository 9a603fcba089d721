"""At start-up, check that the topics a service reads and writes keep what they must keep.

A replay (or a new read model) rebuilds from the beginning of a topic: a topic that deletes
records after the broker's default seven days silently loses every older action point. The
settings we expect are in ``shared.events.topics`` (one registry for the broker command, the
deploy files and this check).

The same check reports a topic with fewer copies than the cluster can keep (replication
factor, ``min.insync.replicas``: 3 and 2 on three brokers or more, ``shared.events.topics.
durability``): a broker lost would otherwise take acknowledged records with it.

A wrong setting is reported, not fatal: platform teams may manage topics, and a service that
refuses to start stops offices' work over a setting that matters only to a later replay. It is
an ERROR log line naming topic, setting, found and expected value, the gauge
``actiepunten_topic_config_wrong{topic,setting}`` (1 while wrong), and the ``warnings`` of
``/health`` (still 200). Topics owned by the platform are reported as WARNING.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client import Gauge

from servicekit.kafkaclient import KafkaConnection, client_options
from shared.events.topics import REGISTRY, durability

log = logging.getLogger(__name__)

TOPIC_CONFIG_WRONG = Gauge(
    "actiepunten_topic_config_wrong",
    "1 while a topic the service uses has a setting other than the one it needs",
    ["topic", "setting"],
)


REPLICATION_FACTOR = "replication.factor"
MIN_INSYNC = "min.insync.replicas"
_RISK = {
    REPLICATION_FACTOR: "a broker lost would take acknowledged records with it",
    MIN_INSYNC: "an acknowledged record may be kept by one broker only",
}


@dataclass(frozen=True)
class TopicProblem:
    topic: str
    setting: str
    found: str | None
    expected: str
    owner: str

    def __str__(self) -> str:
        found = "the topic does not exist" if self.found is None else f"found {self.found}"
        risk = _RISK.get(self.setting, "a replay from the beginning would miss older records")
        return f"topic {self.topic}: {self.setting} should be {self.expected} ({found}); {risk}"


async def describe_topic_configs(
    kafka: KafkaConnection | str, names: Iterable[str], *, timeout_ms: int = 10000
) -> dict[str, dict[str, str] | None]:
    """Each topic's configuration as Kafka reports it; None for a topic that does not exist."""
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        wanted = list(names)
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        )
        found: dict[str, dict[str, str] | None] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                found[resource["resource_name"]] = _entries(resource)
        return found
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


_UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


def _entries(resource: dict[str, Any]) -> dict[str, str] | None:
    if resource.get("error_code") == _UNKNOWN_TOPIC:
        return None
    if resource.get("error_code"):
        raise RuntimeError(
            f"describing {resource.get('resource_name')} failed: "
            f"error {resource['error_code']} {resource.get('error_message') or ''}"
        )
    entries: dict[str, str] = {}
    for entry in resource.get("config_entries", ()):
        name = entry.get("config_names", entry.get("config_name"))
        entries[str(name)] = str(entry.get("config_value"))
    return entries


def problems_in(configs: dict[str, dict[str, str] | None]) -> list[TopicProblem]:
    """Each setting of ``REGISTRY`` that a described topic does not have."""
    problems = []
    for topic, found in configs.items():
        settings = REGISTRY.get(topic)
        if settings is None:
            continue
        for setting, expected in settings.config.items():
            value = None if found is None else found.get(setting)
            if value != expected:
                problems.append(TopicProblem(topic, setting, value, expected, settings.owner))
    return problems


@dataclass(frozen=True)
class Replication:
    """How many brokers the cluster has, and each topic's fewest copies of a partition (None:
    the topic does not exist or cannot be described)."""

    brokers: int
    factors: dict[str, int | None]


async def describe_replication(
    kafka: KafkaConnection | str, names: Iterable[str], *, timeout_ms: int = 10000
) -> Replication:
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        described = await admin.describe_topics(list(names))
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    factors: dict[str, int | None] = {}
    for topic in described:
        partitions = [len(p["replicas"]) for p in topic.get("partitions", ())]
        factors[topic["topic"]] = (
            min(partitions) if partitions and not topic["error_code"] else None
        )
    return Replication(len(cluster["brokers"]), factors)


def durability_problems(
    replication: Replication, configs: dict[str, dict[str, str] | None]
) -> list[TopicProblem]:
    """Topics of the registry with fewer copies than ``durability`` asks of this cluster."""
    replicas, min_insync = durability(replication.brokers)
    problems = []
    for topic, factor in replication.factors.items():
        settings = REGISTRY.get(topic)
        if settings is None or factor is None:
            continue  # a missing topic is reported by the configuration check
        if factor < replicas:
            expected = f"at least {replicas}"
            problems.append(
                TopicProblem(topic, REPLICATION_FACTOR, str(factor), expected, settings.owner)
            )
        found = (configs.get(topic) or {}).get(MIN_INSYNC)
        if found is not None and found.isdigit() and int(found) < min_insync:
            expected = f"at least {min_insync}"
            problems.append(TopicProblem(topic, MIN_INSYNC, found, expected, settings.owner))
    return problems


async def check_topics(kafka: KafkaConnection | str, names: Iterable[str]) -> list[TopicProblem]:
    """Check and report (log, gauge) the settings of ``names``; returns the problems found."""
    names = sorted(set(names))
    configs = await describe_topic_configs(kafka, names)
    problems = problems_in(configs)
    problems += durability_problems(await describe_replication(kafka, names), configs)
    wrong = {(p.topic, p.setting) for p in problems}
    for topic in names:
        if topic not in REGISTRY:
            continue
        for setting in (*REGISTRY[topic].config, REPLICATION_FACTOR, MIN_INSYNC):
            TOPIC_CONFIG_WRONG.labels(topic, setting).set(1 if (topic, setting) in wrong else 0)
    for problem in problems:
        level = logging.ERROR if problem.owner == "actiepunten" else logging.WARNING
        log.log(level, "%s", problem)
    return problems
