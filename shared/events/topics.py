"""Topic names (SPEC section 3) and the settings the project creates and checks them with.

``REGISTRY`` is the one place for a topic's partitions (``ACTIEPUNTEN_PARTITIONS``, default 3)
and configuration: the local broker (`actiepunten broker`, `make run`, the tests), ``deploy/``
and each service's start-up check read it.

Retention: the ``.v1`` topics of our own events are the history a replay or a new read model
rebuilds from, so they keep every record (``retention.ms=-1``, ``retention.bytes=-1``). Dead
letters keep theirs too: each is unresolved work with its original value. The ``platform.*``
topics belong to other platform teams; we create them so only for the local broker, and the
start-up check reports a finite retention there as a warning (a fresh scenario store, which
reads them from the beginning, would miss older products and appointments).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

SCENARIO = "actiepunten.scenario.v1"
DOSSIERCONTROLE = "actiepunten.dossiercontrole.v1"
PRODUCTS = "platform.products.v1"
APPOINTMENTS = "platform.appointments.v1"
DOCUMENT_LISTS = "platform.documentlists.v1"
CLIENTS = "platform.clients.v1"
NOTIFICATIONS = "actiepunten.notifications.v1"

SCENARIO_DLQ = "actiepunten.scenario.dlq"
DOSSIERCONTROLE_DLQ = "actiepunten.dossiercontrole.dlq"
PORTAL_DLQ = "actiepunten.portal.dlq"
NOTIFICATIONS_DLQ = "actiepunten.notifications.dlq"

DEFAULT_PARTITIONS = 3


def partitions_setting(environ: Mapping[str, str] = os.environ) -> int:
    """The partitions of each topic: ``ACTIEPUNTEN_PARTITIONS``, 3 when unset.

    A partition is the unit of order and of parallel work: at most that many replicas of a
    service consume at once. Set it before the topics are created; Kafka can add partitions to
    a topic later, but a dossier's key then maps to another partition (see the README).
    """
    value = environ.get("ACTIEPUNTEN_PARTITIONS", "").strip()
    if not value:
        return DEFAULT_PARTITIONS
    try:
        partitions = int(value)
    except ValueError:
        raise SystemExit(f"ACTIEPUNTEN_PARTITIONS must be a whole number, not {value!r}") from None
    if not 1 <= partitions <= 1000:
        raise SystemExit(f"ACTIEPUNTEN_PARTITIONS must be between 1 and 1000, not {partitions}")
    return partitions


PARTITIONS = partitions_setting()

KEEP_FOREVER: Mapping[str, str] = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Kafka topic configuration of a topic that never deletes records by age or size."""


REPLICAS = 3
"""Copies of each partition on a production cluster (three brokers): one broker may be lost,
and another restarted, without losing an acknowledged record."""
MIN_INSYNC_REPLICAS = 2
"""Copies that must have a record before it is acknowledged (producers send ``acks=all``)."""


def durability(brokers: int) -> tuple[int, int]:
    """(replicas, ``min.insync.replicas``) a topic needs on a cluster of ``brokers``: 3 and 2 on
    three brokers or more; on a smaller cluster (local, a test cluster) as many replicas as
    there are brokers, and one fewer in sync, at least one, so that a broker may restart."""
    replicas = max(1, min(REPLICAS, brokers))
    return replicas, max(1, min(MIN_INSYNC_REPLICAS, replicas - 1))


@dataclass(frozen=True)
class TopicSettings:
    name: str
    owner: Literal["actiepunten", "platform"]
    partitions: int = PARTITIONS
    config: Mapping[str, str] = field(default_factory=lambda: dict(KEEP_FOREVER))


REGISTRY: dict[str, TopicSettings] = {
    settings.name: settings
    for settings in (
        TopicSettings(SCENARIO, "actiepunten"),
        TopicSettings(DOSSIERCONTROLE, "actiepunten"),
        TopicSettings(PRODUCTS, "platform"),
        TopicSettings(APPOINTMENTS, "platform"),
        TopicSettings(DOCUMENT_LISTS, "platform"),
        TopicSettings(CLIENTS, "platform"),
        TopicSettings(NOTIFICATIONS, "actiepunten"),
        TopicSettings(SCENARIO_DLQ, "actiepunten"),
        TopicSettings(DOSSIERCONTROLE_DLQ, "actiepunten"),
        TopicSettings(PORTAL_DLQ, "actiepunten"),
        TopicSettings(NOTIFICATIONS_DLQ, "actiepunten"),
    )
}

TOPICS: dict[str, int] = {name: settings.partitions for name, settings in REGISTRY.items()}
"""Name -> partitions, for callers that need only those."""
