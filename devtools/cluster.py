"""A three-broker Apache Kafka cluster in KRaft mode on this machine, for the crash run that
kills partition leaders (SPEC section 10): three JVMs from the same jars, each a broker and a
controller with its own node id, ports and data dir, formatted with one cluster id.

Internal topics keep three copies and acknowledge at two, as production topics do; the
offsets topic has one partition, as on the single node (a fresh group finds its coordinator
at once).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from devtools.brokers import BrokerError, free_port
from devtools.kafka import _ApacheKafka
from servicekit.kafkaclient import client_options
from shared.events.topics import durability

NODES = 3


class _Node(_ApacheKafka):
    """One node of the cluster: broker and controller, voters named by the cluster."""

    heap = "512m"

    def __init__(
        self, data_dir: Path, node_id: int, port: int, controller_port: int, voters: str
    ) -> None:
        self.node_id = node_id
        self.voters = voters
        super().__init__(data_dir, port)
        self.controller_port = controller_port

    def _settings(self) -> dict[str, str]:
        replicas, min_insync = durability(NODES)
        return {
            **super()._settings(),
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters,
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(min_insync),
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(min_insync),
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": str(min_insync),
            # A leader that comes back takes its partitions back soon: the next kill hits it.
            "leader.imbalance.check.interval.seconds": "5",
        }


@dataclass
class KafkaCluster:
    """Three running nodes; ``bootstrap_servers`` names them all."""

    nodes: dict[int, _Node]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes.values())

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: its partitions' leadership moves to the others."""
        self.nodes[node_id].kill()

    def start(self, node_id: int) -> None:
        """Start a killed node again with its data (it catches up and rejoins the ISR)."""
        node = self.nodes[node_id]
        node.launch()
        node.await_ready()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()

    async def partitions(self, topic: str) -> list[dict[str, Any]]:
        """Each partition of ``topic`` as the cluster describes it now: ``partition``,
        ``leader`` (a node id), ``replicas``, ``isr``."""
        admin = AIOKafkaAdminClient(**client_options(self.bootstrap_servers))
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        return list(described["partitions"])


def start_cluster(data_dir: Path) -> KafkaCluster:
    """Start three nodes at once (a node answers only once a majority of controllers runs),
    then wait for each."""
    if not shutil.which("java"):
        raise BrokerError("Apache Kafka needs `java` (17 or later) on PATH")
    ports = {node_id: (free_port(), free_port()) for node_id in range(1, NODES + 1)}
    voters = ",".join(f"{n}@127.0.0.1:{controller}" for n, (_, controller) in ports.items())
    nodes = {
        n: _Node(data_dir / f"node-{n}", n, port, controller, voters)
        for n, (port, controller) in ports.items()
    }
    cluster_id = nodes[1].cluster_id
    cluster = KafkaCluster(nodes)
    try:
        for node in nodes.values():
            node.cluster_id = cluster_id
            node.launch()
        for node in nodes.values():
            node.await_ready()
    except BaseException:
        cluster.stop()
        raise
    return cluster
