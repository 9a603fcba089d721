"""P1k of issue 21, the Kafka path: document lists (stukkenlijsten) that another platform service
publishes on ``platform.documentlists.v1``, 3 items each, until every action point is on the
portal. Two hops of our own (the scenario service, then the dossier check) and the portal behind
them; the baseline is the raw two-hop aiokafka relay of P1 moving as many records (one per
action point) in the same run. Beside it, the CPU each process used per list.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaProducer

from bench import profiles
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.support import Office, System

if TYPE_CHECKING:
    from bench.e2e import Results, Scale

ITEMS = 3  # documents per list, as a scenario start of P1
TARGET = 10.0  # % of the raw relay


def document_lists(office: Office, count: int, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """``count`` DocumentListReceived records, one dossier each, as a platform service sends
    them (its own source, the dossier's key)."""
    for index in range(count):
        dossier = f"{prefix}-{index}"
        event = new_event(
            c.DocumentListReceived,
            {
                "subject": {"type": "product", "id": f"hyp-{dossier}", "scope": "hypotheek"},
                "reference": f"{prefix}-list-{index}",
                "items": [{"document_type": f"bench_type_{i}"} for i in range(ITEMS)],
            },
            source="platform/lender-bench",
            tenant=office.tenant,
            dossier=dossier,
        )
        yield event.key, encode(event)


async def publish_lists(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    """As a platform service would: one idempotent acks=all producer, records sent as fast as
    it batches them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sends = [
            await producer.send(topics.DOCUMENT_LISTS, value, key=key) for key, value in records
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def p1k_kafka_path(
    system: System, office: Office, scale: Scale, results: Results, servers: Mapping[str, str]
) -> None:
    """``servers``: the broker's (and PostgreSQL's) data dir by name, to count their CPU."""
    from bench.e2e import RawRelay, cpu_seconds, processed, processes_of, wait_processed

    points = scale.document_lists * ITEMS
    relay = RawRelay(system.bootstrap_servers)

    async def baseline() -> float:
        await relay.start()
        try:
            await relay.move(200)  # warm-up: connections, metadata
            return await relay.move(points)
        finally:
            await relay.stop()

    raw_seconds = asyncio.run(baseline())
    prefix = f"p1k-{uuid.uuid4().hex[:6]}"
    records = list(document_lists(office, scale.document_lists, prefix))

    def cpu() -> dict[str, float]:
        services = {name: [process.pid] for name, process in system.processes.items()}
        servers_now = {name: processes_of(path) for name, path in servers.items()}
        return {name: cpu_seconds(pids) for name, pids in (services | servers_now).items()}

    cpu_before = cpu()
    before = processed(system, "ActionPointOpened")
    with profiles.profiled(system, "p1k"):
        started = time.perf_counter()
        asyncio.run(publish_lists(system.bootstrap_servers, records))
        wait_processed(system, "ActionPointOpened", before + points, timeout=1200)
        seconds = time.perf_counter() - started
    used = {name: spent - cpu_before[name] for name, spent in cpu().items()}
    for index in random.sample(range(scale.document_lists), min(20, scale.document_lists)):
        found = system.portal(office, f"{prefix}-{index}")["action_points"]
        assert len(found) == ITEMS, (index, found)
    ours, raw = points / seconds, points / raw_seconds
    results.add(
        f"P1k Kafka path, {scale.document_lists:,} lists -> portal",
        ours,
        "points/s",
        raw,
        f"{100 * ours / raw:.1f} % of the raw two-hop relay (target >= {TARGET:.0f} %)",
    )
    total = sum(used.values())
    results.add(
        "P1k CPU per list, all processes",
        1000 * total / scale.document_lists,
        "ms",
        None,
        f"{total:.1f} of {2 * seconds:.1f} core-seconds of 2 cores used",
    )
    for name, cpu in used.items():
        results.add(f"P1k CPU per list: {name}", 1000 * cpu / scale.document_lists, "ms", None, "")
