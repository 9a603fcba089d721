"""Creating the registry's topics on a local broker, and putting their configuration right."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from servicekit.kafkaclient import KafkaConnection, client_options
from shared.events.topics import REGISTRY, TOPICS, durability

log = logging.getLogger(__name__)

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    name: dict(settings.config) for name, settings in REGISTRY.items()
}
"""Each topic's Kafka configuration from the registry (retention): topics are created and
aligned with it."""


async def create_topics(
    kafka: KafkaConnection | str,
    topics: dict[str, int] = TOPICS,
    *,
    replication_factor: int = 1,
    timeout: float = 60.0,
) -> None:
    """Create the topics that do not exist yet (name -> partitions), with their configuration
    from the registry (`TOPIC_CONFIGS`: our `.v1` topics keep every record). Idempotent.

    ``replication_factor`` copies of each partition, acknowledged at the ``min.insync.replicas``
    that ``shared.events.topics.durability`` gives them (2 of 3 on a three-broker cluster).

    Retries until the broker answers or `timeout` seconds pass; an existing topic is left as it
    is, even with fewer partitions (`align_topic_configs` fixes its configuration). Other
    per-topic errors are raised.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    _, min_insync = durability(replication_factor)
    copies = {"min.insync.replicas": str(min_insync)} if replication_factor > 1 else {}
    while True:
        admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs={**TOPIC_CONFIGS.get(name, {}), **copies},
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
            log.debug("broker %s not ready for topics yet: %s", kafka, exc)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.5)


async def align_topic_configs(kafka: KafkaConnection | str) -> list[str]:
    """Give existing topics of the registry the configuration it names (a data dir from before
    the retention settings, say); returns the topics changed. For brokers we run ourselves:
    on a shared cluster the topics' owners decide, and the services only report. A broker that
    cannot describe or alter configurations (Tansu) is logged and left as it is."""
    from servicekit.topicconfig import describe_topic_configs, problems_in

    try:
        configs = await describe_topic_configs(kafka, TOPIC_CONFIGS)
        wrong = sorted({p.topic for p in problems_in(configs) if p.found is not None})
        if not wrong:
            return []
        admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=10000)
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
