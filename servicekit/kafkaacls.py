"""The least Kafka ACLs of each service, derived from the service and topic registries (SPEC
section 10): the secured local broker (``devtools.secured``) and the generated Strimzi
``KafkaUser``s (``deploy/kubernetes``) both read them from here.

- its own topic and dead-letter topic: Write (Describe to find their partitions);
- the topics it consumes: Read (and Describe);
- its consumer group ``actiepunten.<service>``: Read (join, commit);
- DescribeConfigs on each of those topics, for the start-up topic check
  (``servicekit.topicconfig``).

Nothing else: no Create (the topics are made by their owners), no other group, no cluster
operation (an idempotent producer needs none since Kafka 2.8: Write on a topic implies it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from servicekit.services import SERVICES


@dataclass(frozen=True)
class Acl:
    """Allow ``operations`` on one resource (Strimzi's spelling: ``Write``, ``DescribeConfigs``)."""

    resource: Literal["topic", "group"]
    name: str
    operations: tuple[str, ...]


def user_name(service: str) -> str:
    """The Kafka user of a service (the KafkaUser's name; its SASL username)."""
    return f"actiepunten-{service}"


def consumer_group(service: str) -> str:
    """The consumer group a service joins unless ``ACTIEPUNTEN_<SERVICE>_GROUP`` says otherwise."""
    return f"actiepunten.{service}"


def writes(service: str) -> tuple[str, ...]:
    """The topics a service writes: what it publishes (if anything) and its dead letters."""
    kafka = SERVICES[service].module("kafka")
    published = getattr(kafka, "PUBLISHES", None)
    return tuple(topic for topic in (published, SERVICES[service].dlq) if topic)


def reads(service: str) -> tuple[str, ...]:
    """The topics a service consumes."""
    return tuple(SERVICES[service].module("kafka").CONSUMES)


_DESCRIBE = ("Describe", "DescribeConfigs")


def service_acls(service: str) -> list[Acl]:
    """The ACLs of one service's user, its own topics first."""
    acls = [Acl("topic", topic, ("Write", *_DESCRIBE)) for topic in writes(service)]
    acls += [Acl("topic", topic, ("Read", *_DESCRIBE)) for topic in reads(service)]
    acls.append(Acl("group", consumer_group(service), ("Read",)))
    return acls
