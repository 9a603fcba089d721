"""Story: on a three-broker cluster, partition leaders die under load and nothing is lost or
doubled (SPEC section 10): topics keep three copies and acknowledge at two, so a leader killed
with SIGKILL hands over to a follower that has every acknowledged record.

Document requests enter as document lists (stukkenlijsten), one document each on a subject of
its own, while the node leading a partition of the topics they travel through is killed and
started again. Each request must end as exactly one document in the dossier check and one
action point on the portal. Its own target (`make chaos-cluster`, marker ``cluster``): three
JVMs beside the suite would slow `make test` down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devtools.cluster import KafkaCluster, start_cluster
from devtools.topics import create_topics
from servicekit import topicconfig
from servicekit.topicconfig import check_topics
from shared.events import topics
from shared.events.topics import TopicSettings
from tests.chaos.crashrun import DOSSIER_IDS, produce_requests
from tests.support import System, count_by_subject

pytestmark = [pytest.mark.cluster, pytest.mark.kafka]

# The topics a request travels through: in, between the services, out to the portal.
PATH = (topics.DOCUMENT_LISTS, topics.SCENARIO, topics.DOSSIERCONTROLE)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    started = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        asyncio.run(create_topics(started.bootstrap_servers, replication_factor=3))
        yield started
    finally:
        started.stop()


@dataclass
class Kills:
    done: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def _kill_leaders(cluster: KafkaCluster, kills: Kills, stop: threading.Event) -> None:
    """Kill the node leading a partition of the next topic on the path, let the cluster run
    without it for a while, start it again; until told to stop."""
    turn = 0
    try:
        while not stop.wait(2.0):
            topic = PATH[turn % len(PATH)]
            partition = asyncio.run(cluster.partitions(topic))[turn % 3]
            leader = partition["leader"]
            cluster.kill(leader)
            kills.done.append(f"node {leader} leading {topic}[{partition['partition']}]")
            time.sleep(6.0)  # leadership moves after the broker session timeout
            cluster.start(leader)
            turn += 1
    except BaseException as error:
        kills.errors.append(error)


def test_killing_partition_leaders_under_load_loses_and_doubles_nothing(
    cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    requests = int(os.environ.get("ACTIEPUNTEN_CLUSTER_REQUESTS", "300"))
    system = System(
        cluster.bootstrap_servers,
        tmp_path_factory.mktemp("cluster-system"),
        extra_env={"ACTIEPUNTEN_PERSISTENCE": "sqlite"},
    )
    system.start("scenario", "dossiercontrole", "portal")
    try:
        office = system.office()
        started = time.monotonic()
        kills, stop = Kills(), threading.Event()
        killer = threading.Thread(target=_kill_leaders, args=(cluster, kills, stop), daemon=True)
        killer.start()
        # Spread over about a minute: every kill falls within the load.
        asyncio.run(produce_requests(cluster.bootstrap_servers, office.tenant, requests, 60.0))
        while len(kills.done) < 3 and killer.is_alive():
            time.sleep(1.0)  # at least one leader of each topic on the path
        stop.set()
        killer.join()
        assert not kills.errors, kills.errors

        expected = {f"product-{i}" for i in range(requests)}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            documents, points = count_by_subject(system, office, DOSSIER_IDS)
            if set(documents) >= expected and set(points) >= expected:
                break
            time.sleep(2.0)
        time.sleep(3.0)  # anything still in flight that would double an entry has landed
        documents, points = count_by_subject(system, office, DOSSIER_IDS)
    finally:
        system.stop()
    lost = len(expected - set(documents))
    duplicated = sum(n - 1 for n in documents.values() if n > 1)
    portal_lost = len(expected - set(points))
    portal_duplicated = sum(n - 1 for n in points.values() if n > 1)
    print(
        f"\nleader crash run: requests={requests} kills={len(kills.done)} "
        f"({'; '.join(kills.done)}) lost={lost} duplicated={duplicated} portal_lost={portal_lost} "
        f"portal_duplicated={portal_duplicated} in {time.monotonic() - started:.1f}s"
    )
    assert len(kills.done) >= 3
    assert (lost, duplicated, portal_lost, portal_duplicated) == (0, 0, 0, 0)


async def test_a_topic_with_one_copy_on_three_brokers_is_reported(
    cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Someone created our topic with the tooling's default of one copy.
    name = f"actiepunten.copies-test-{uuid.uuid4().hex[:8]}.v1"
    monkeypatch.setitem(topicconfig.REGISTRY, name, TopicSettings(name, "actiepunten"))
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    await admin.start()
    try:
        config = dict(topics.KEEP_FOREVER, **{"min.insync.replicas": "1"})
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=config)])
    finally:
        await admin.close()

    with caplog.at_level(logging.ERROR, logger="servicekit.topicconfig"):
        for _ in range(50):  # the new topic reaches every broker's metadata a moment later
            problems = await check_topics(cluster.bootstrap_servers, [name])
            if problems:
                break
            await asyncio.sleep(0.2)
    assert {(p.setting, p.found, p.expected) for p in problems} == {
        ("replication.factor", "1", "at least 3"),
        ("min.insync.replicas", "1", "at least 2"),
    }
    assert f"topic {name}: replication.factor should be at least 3 (found 1)" in caplog.text
