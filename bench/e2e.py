"""End-to-end benchmarks: the broker and the three services as processes, as `make run` starts
them, driven over HTTP and Kafka; each figure beside a baseline measured in the same run.

- P1 throughput: scenario starts (3 documents each) by 16 advisers at once, until every action
  point is on the portal; baseline: a plain aiokafka consume-produce relay over two hops (acks=all,
  idempotent) moving the same number of records. Beside it, the CPU each process used per start
  (the services, the broker, PostgreSQL, the load generator), and the relay's for 3 records.
- P1k (issue 21) the Kafka path: document lists another platform service publishes, until their
  action points are on the portal; baseline: the same raw relay (``bench/kafka_path.py``).
- P2 latency: sequential starts until their 3 action points are visible on the portal; baseline:
  one record through the same raw two-hop relay. Beside it, by stage: the p50 from a start to
  its record on the scenario topic, and to its first ActionPointOpened (the records' timestamps).
- P3 replay: `actiepunten replay portal` over the dossier-check topic after N action points were
  published; baseline: a raw aiokafka consume of the same topic. The live portal's catch-up on the
  same events is printed beside it.
- P4 memory: RSS of each service after P1 (about 1k dossiers) and after P3 (N more dossiers).
- P5 portal query p99 at about 1k dossiers and after P3.
- P6 one dossier with many documents: loading it from the store (cold, no cache) and an upload
  to it over HTTP, beside a dossier of 5 documents.
- D1 (issue 17) the RSS a 20 MiB download adds to the dossier check (``bench/downloads.py``).
- The adviser's work queue: a page's p99 with each list at 100,000 items, beside 1,000
  (``bench/work_queue.py``).

Timings are printed and written to ``bench/results/``, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import downloads, kafka_path, profiles
from devtools import Broker, create_topics, provide_broker
from devtools.postgres import PostgresServer, start_throwaway
from devtools.postgres import available as postgres_available
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import encode, new_event
from tests.support import Office, System, wait_until_caught_up

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PROCESSED = "actiepunten_events_processed_total"
TARGET_P2 = {"sqlite": {50: 25, 99: 60}, "postgres": {50: 30}}  # ms, issue 21
UPLOADS = 21  # P6: uploads to each dossier, median


@dataclass(frozen=True)
class Scale:
    starts: int = 1000  # P1: scenario starts of 3 documents
    document_lists: int = 3000  # P1k: document lists of 3 documents over Kafka
    advisers: int = 16  # P1: concurrent HTTP clients
    latency_samples: int = 100  # P2
    replay_events: int = 20_000  # P3 (and the dossiers of P4/P5)
    big_dossier: int = 1000  # P6: documents in the big dossier
    work_queue_items: int = 100_000  # items in each list of the work queue (beside 1,000)

    @classmethod
    def from_env(cls) -> Scale:
        """``BENCH_SCALE`` (full, smoke or the default), then any field from ``BENCH_<FIELD>``
        (``BENCH_REPLAY_EVENTS=100000``)."""
        scale = cls._named(os.environ.get("BENCH_SCALE", "").lower())
        given = {
            name: int(os.environ[f"BENCH_{name.upper()}"])
            for name in cls.__dataclass_fields__
            if f"BENCH_{name.upper()}" in os.environ
        }
        return replace(scale, **given)

    @classmethod
    def _named(cls, wanted: str) -> Scale:
        if wanted in {"full", "100k"}:
            return cls(replay_events=100_000, big_dossier=5000)
        if wanted == "smoke":  # a quick check that the harness works, figures meaningless
            return cls(
                starts=60,
                document_lists=100,
                latency_samples=10,
                replay_events=500,
                big_dossier=50,
                work_queue_items=2_000,
            )
        return cls()


PARTS = ("p1", "p1k", "p2", "p3", "p6", "d1", "wq")


def parts_from_env() -> set[str]:
    """``BENCH_PARTS=p1k,p2``: only those parts (P3 includes P4 and P5), for a quicker look
    while developing; the default is all of them."""
    wanted = {p.strip().lower() for p in os.environ.get("BENCH_PARTS", "").split(",") if p.strip()}
    unknown = wanted - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_PARTS: unknown {sorted(unknown)}; the parts are {PARTS}")
    return wanted or set(PARTS)


@dataclass
class Results:
    store: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, baseline: float | None, note: str) -> None:
        self.rows.append(
            {"name": name, "value": value, "unit": unit, "baseline": baseline, "ratio_note": note}
        )
        base = f"{baseline:12,.1f}" if baseline is not None else " " * 12
        print(f"  {name:44} {value:12,.1f} {unit:10} baseline {base}   {note}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- the raw relay: the baseline of P1 and P2 ---------------------------------------------------


class RawRelay:
    """Two hops of plain aiokafka consume-produce (a → b → c), the floor our pipeline stands on."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        run = uuid.uuid4().hex[:8]
        self.topics = [f"bench.raw.{hop}.{run}" for hop in ("a", "b", "c")]
        self.tasks: list[asyncio.Task[None]] = []
        self.clients: list[Any] = []
        self.arrived: asyncio.Queue[bytes] = asyncio.Queue()
        self.running = True

    def producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, linger_ms=0
        )

    async def _consumer(self, topic: str) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"bench.{topic}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        self.clients.append(consumer)
        return consumer

    async def start(self) -> None:
        await create_topics(self.bootstrap, dict.fromkeys(self.topics, 3))
        for source, target in zip(self.topics, self.topics[1:], strict=False):
            consumer = await self._consumer(source)
            producer = self.producer()
            await producer.start()
            self.clients.append(producer)
            self.tasks.append(asyncio.create_task(self._hop(consumer, producer, target)))
        sink = await self._consumer(self.topics[-1])
        self.tasks.append(asyncio.create_task(self._sink(sink)))

    async def _hop(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, target: str
    ) -> None:
        while self.running:
            batch = await consumer.getmany(timeout_ms=100)
            sends = [
                await producer.send(target, record.value, key=record.key)
                for records in batch.values()
                for record in records
            ]
            await asyncio.gather(*sends)
            if batch:
                await consumer.commit()

    async def _sink(self, consumer: AIOKafkaConsumer) -> None:
        while self.running:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    self.arrived.put_nowait(record.value)

    async def move(self, count: int) -> float:
        """Seconds from the first send until all ``count`` records arrived at the sink."""
        producer = self.producer()
        await producer.start()
        started = time.perf_counter()
        sends = [
            await producer.send(self.topics[0], b"x" * 600, key=f"k-{i}".encode())
            for i in range(count)
        ]
        await asyncio.gather(*sends)
        for _ in range(count):
            await self.arrived.get()
        elapsed = time.perf_counter() - started
        await producer.stop()
        return elapsed

    async def latencies(self, count: int) -> list[float]:
        producer = self.producer()
        await producer.start()
        samples = []
        for i in range(count):
            started = time.perf_counter()
            await producer.send_and_wait(self.topics[0], b"x" * 600, key=f"l-{i}".encode())
            await self.arrived.get()
            samples.append(time.perf_counter() - started)
        await producer.stop()
        return samples

    async def stop(self) -> None:
        # Each hop finishes its fetch and its offset commit: a commit cut off by a cancel
        # would fail later, when its connection closes, as an exception nobody retrieves.
        self.running = False
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.stop()


async def raw_consume_all(bootstrap: str, topic: str) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        started = time.perf_counter()
        await consumer.seek_to_beginning(*partitions)
        count = 0
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                count += len(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


# --- driving the system -------------------------------------------------------------------------


def processed(system: System, event_type: str) -> float:
    """How many records of ``event_type`` the portal processed, from its /metrics."""
    text = httpx.get(system.url("portal") + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(PROCESSED) and f'type="{event_type}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_processed(system: System, event_type: str, target: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while processed(system, event_type) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"portal processed {processed(system, event_type)} < {target}")
        time.sleep(0.05)


def rss_mib(system: System) -> dict[str, float]:
    sizes = {}
    for name, process in system.processes.items():
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes[name] = int(line.split()[1]) / 1024
    return sizes


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU the processes used so far (one that ended counts nothing)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def processes_of(mentioning: str) -> list[int]:
    """The processes whose command line mentions ``mentioning`` (a data dir), and their
    children (PostgreSQL's backends)."""
    parents: dict[int, int] = {}
    named = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
        except OSError:
            continue
        if mentioning in command:
            named.add(int(entry.name))
    return sorted(named | {pid for pid, parent in parents.items() if parent in named})


def define_scenario(system: System, office: Office, items: int = 3) -> str:
    response = system.post(
        "scenario",
        "/scenarios",
        office.admin,
        json={
            "name": "Bench hypotheek",
            "scope": "hypotheek",
            "items": [{"document_type": f"bench_type_{i}"} for i in range(items)],
        },
    )
    response.raise_for_status()
    return str(response.json()["scenario_id"])


def run_body(dossier: str, scenario_id: str) -> dict[str, Any]:
    return {
        "dossier_id": dossier,
        "subject": {"type": "product", "id": f"hyp-{dossier}", "scope": "hypotheek"},
        "scenario_ids": [scenario_id],
    }


async def concurrently(count: int, workers: int, call: Callable[[int], Awaitable[None]]) -> None:
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            await call(index)

    await asyncio.gather(*(worker() for _ in range(workers)))


def p1_throughput(
    system: System, office: Office, scale: Scale, results: Results, servers: Mapping[str, str]
) -> None:
    """``servers``: the broker's (and PostgreSQL's) data dir by name, to count their CPU."""
    relay = RawRelay(system.bootstrap_servers)
    records = scale.starts * 3

    def servers_cpu() -> dict[str, float]:
        return {name: cpu_seconds(processes_of(path)) for name, path in servers.items()}

    async def baseline() -> tuple[float, float]:
        await relay.start()
        try:
            await relay.move(200)  # warm-up: connections, metadata
            before, own = sum(servers_cpu().values()), time.process_time()
            seconds = await relay.move(records)
            return seconds, sum(servers_cpu().values()) - before + time.process_time() - own
        finally:
            await relay.stop()

    raw_seconds, raw_cpu = asyncio.run(baseline())
    scenario_id = define_scenario(system, office)
    before = processed(system, "ActionPointOpened")

    async def start_all() -> None:
        async with httpx.AsyncClient(base_url=system.url("scenario"), timeout=60) as client:

            async def start(index: int) -> None:
                body = run_body(f"p1-{index}", scenario_id)
                response = await client.post("/scenario-runs", json=body, headers=office.adviser)
                response.raise_for_status()

            await concurrently(scale.starts, scale.advisers, start)

    services = {name: [process.pid] for name, process in system.processes.items()}
    cpu_before = {name: cpu_seconds(pids) for name, pids in services.items()} | servers_cpu()
    started, own = time.perf_counter(), time.process_time()
    asyncio.run(start_all())
    generator = time.process_time() - own
    wait_processed(system, "ActionPointOpened", before + records, timeout=600)
    seconds = time.perf_counter() - started
    used = {name: cpu_seconds(pids) for name, pids in services.items()} | servers_cpu()
    used = {name: used[name] - cpu_before[name] for name in used} | {"load generator": generator}
    for index in random.sample(range(scale.starts), 20):
        points = system.portal(office, f"p1-{index}")["action_points"]
        assert len(points) == 3, (index, points)
    ours, raw = records / seconds, records / raw_seconds
    results.add(
        "P1 throughput, start -> portal row",
        ours,
        "points/s",
        raw,
        f"{100 * ours / raw:.1f} % of the raw two-hop relay (target >= 25 %)",
    )
    # Where the CPU went: a start (3 records) beside the raw relay moving 3 records.
    total, raw_per_start = sum(used.values()), 3 * raw_cpu / records
    results.add(
        "P1 CPU per start, all processes",
        1000 * total / scale.starts,
        "ms",
        1000 * raw_per_start,
        f"{total / scale.starts / raw_per_start:.1f}x the raw relay's for 3 records; "
        f"{total:.1f} of {2 * seconds:.1f} core-seconds of 2 cores used",
    )
    for name, cpu in used.items():
        results.add(f"P1 CPU per start: {name}", 1000 * cpu / scale.starts, "ms", None, "")


def p2_latency(system: System, office: Office, scale: Scale, results: Results) -> None:
    relay = RawRelay(system.bootstrap_servers)

    async def baseline() -> list[float]:
        await relay.start()
        try:
            await relay.move(20)
            return await relay.latencies(scale.latency_samples)
        finally:
            await relay.stop()

    raw = asyncio.run(baseline())
    scenario_id = define_scenario(system, office)
    samples = []
    started_at: dict[bytes, float] = {}  # each start's wall clock, by its dossier's record key
    prefix = f"p2-{uuid.uuid4().hex[:6]}"
    with httpx.Client(timeout=30) as client:
        for index in range(scale.latency_samples):
            dossier = f"{prefix}-{index}"
            headers = office.client(dossier)
            started_at[f"{office.tenant}:{dossier}".encode()] = time.time()
            started = time.perf_counter()
            response = client.post(
                system.url("scenario") + "/scenario-runs",
                json=run_body(dossier, scenario_id),
                headers=office.adviser,
            )
            response.raise_for_status()
            url = system.url("portal") + f"/portal/dossiers/{dossier}/action-points"
            while len(client.get(url, headers=headers).json()["action_points"]) < 3:
                time.sleep(0.002)
            samples.append(time.perf_counter() - started)
    for q in (50, 90, 99):
        ours, base = 1000 * percentile(samples, q), 1000 * percentile(raw, q)
        target = TARGET_P2.get(system.env.get("ACTIEPUNTEN_PERSISTENCE", "sqlite"), {}).get(q)
        target_note = f" (target <= {target} ms)" if target else ""
        results.add(
            f"P2 latency p{q}", ours, "ms", base, f"{ours / base:.1f}x the raw{target_note}"
        )
    stages = asyncio.run(p2_stages(system.bootstrap_servers, started_at))
    for stage, (topic, event_type) in P2_STAGES.items():
        if stages[stage]:
            results.add(
                f"P2 p50 to {stage}",
                statistics.median(stages[stage]),
                "ms",
                None,
                f"its {event_type} stamped on {topic} (of {len(stages[stage])} starts)",
            )


P2_STAGES = {
    "the scenario service's record": (topics.SCENARIO, "DocumentRequested"),
    "the dossier check's record": (topics.DOSSIERCONTROLE, "ActionPointOpened"),
}
"""Where P2's time goes: from each start to the first record of its kind for its dossier, by
the record's timestamp (the producer's clock: this machine's)."""


async def p2_stages(bootstrap: str, started_at: Mapping[bytes, float]) -> dict[str, list[float]]:
    """Milliseconds from each start to each stage's first record for its dossier."""
    found: dict[str, list[float]] = {}
    for stage, (topic, event_type) in P2_STAGES.items():
        first: dict[bytes, float] = {}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(topics.partitions_setting())]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            while remaining:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if (
                            record.key in started_at
                            and record.key not in first
                            and json.loads(record.value).get("type") == event_type
                        ):
                            first[record.key] = record.timestamp / 1000
                for tp in list(remaining):  # a position past a gap (a control record) counts
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        found[stage] = [1000 * (at - started_at[key]) for key, at in first.items()]
    return found


def action_points(office: Office, count: int, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    subject = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
    now = datetime.now(UTC)
    for index in range(count):
        dossier = f"{prefix}-{index}"
        event = new_event(
            c.ActionPointOpened,
            {
                "action_point_id": uuid.uuid4(),
                "document_id": uuid.uuid4(),
                "dossier_id": dossier,
                "subject": subject,
                "document_type": "paspoort",
                "title": "Paspoort",
                "opened_at": now,
            },
            source="actiepunten/bench",
            tenant=office.tenant,
            dossier=dossier,
        )
        yield f"{office.tenant}:{dossier}".encode(), encode(event)


async def publish(bootstrap: str, records: Iterator[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for key, value in records:
            pending.append(await producer.send(topics.DOSSIERCONTROLE, value, key=key))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def query_p99(system: System, office: Office, prefix: str, dossiers: int) -> float:
    samples = []
    with httpx.Client(timeout=30) as client:
        for _ in range(300):
            dossier = f"{prefix}-{random.randrange(dossiers)}"
            url = system.url("portal") + f"/portal/dossiers/{dossier}/action-points"
            started = time.perf_counter()
            response = client.get(url, headers=office.adviser)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
    return 1000 * percentile(samples, 99)


def p3_to_p5(system: System, office: Office, scale: Scale, results: Results) -> None:
    small_rss = rss_mib(system)
    small_p99 = query_p99(system, office, "p1", scale.starts)
    before = processed(system, "ActionPointOpened")
    asyncio.run(publish(system.bootstrap_servers, action_points(office, scale.replay_events, "p3")))
    started = time.perf_counter()
    wait_processed(system, "ActionPointOpened", before + scale.replay_events, timeout=1800)
    live_seconds = time.perf_counter() - started

    raw_read = raw_consume_all(system.bootstrap_servers, topics.DOSSIERCONTROLE)
    total, raw_seconds = asyncio.run(raw_read)
    started = time.perf_counter()
    store = system.env.get("ACTIEPUNTEN_PERSISTENCE", "sqlite")
    said = subprocess.run(
        profiles.spied([sys.executable, "-m", "actiepunten", "replay", "portal"], "p3", store),
        env=system.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    replay_seconds = time.perf_counter() - started
    replay, raw = total / replay_seconds, total / raw_seconds
    results.add(
        f"P3 replay portal ({total:,} records)",
        replay,
        "events/s",
        raw,
        f"{100 * replay / raw:.1f} % of a raw consume (target >= 25 %)",
    )
    # The command says how long the rebuild itself took: its start-up (imports) is the rest.
    rebuilt = re.search(r"skipped, ([0-9.]+) s\)", said)
    if rebuilt:
        own = total / float(rebuilt.group(1))
        results.add(
            "P3 the same without its start-up",
            own,
            "events/s",
            raw,
            f"{100 * own / raw:.1f} % of a raw consume; start-up "
            f"{replay_seconds - float(rebuilt.group(1)):.1f} s",
        )
    results.add(
        "P3 live portal catch-up",
        scale.replay_events / live_seconds,
        "events/s",
        raw,
        f"{100 * scale.replay_events / live_seconds / raw:.1f} % of a raw consume",
    )
    time.sleep(2)  # the portal switches to the replayed model within a second
    big_rss = rss_mib(system)
    for name in sorted(big_rss):
        results.add(
            f"P4 RSS {name}, {scale.replay_events:,} more dossiers",
            big_rss[name],
            "MiB",
            small_rss[name],
            f"{big_rss[name] / small_rss[name]:.2f}x the RSS after P1 (target <= 150 MiB, 1.2x)",
        )
    big_p99 = query_p99(system, office, "p3", scale.replay_events)
    results.add(
        f"P5 portal query p99, {scale.replay_events + scale.starts:,} dossiers",
        big_p99,
        "ms",
        small_p99,
        f"{big_p99 / small_p99:.2f}x the p99 at {scale.starts:,} dossiers (target <= 2x)",
    )


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def p6_big_dossier(system: System, office: Office, scale: Scale, results: Results) -> None:
    async def request_all(dossier: str, count: int) -> None:
        async with httpx.AsyncClient(base_url=system.url("scenario"), timeout=60) as client:

            async def request(index: int) -> None:
                body = {
                    "dossier_id": dossier,
                    "subject": {"type": "product", "id": "hyp-1", "scope": "hypotheek"},
                    "document_type": f"type_{index}",
                }
                response = await client.post(
                    "/document-requests", json=body, headers=office.adviser
                )
                response.raise_for_status()

            await concurrently(count, scale.advisers, request)

    before = processed(system, "ActionPointOpened")
    asyncio.run(request_all("p6-big", scale.big_dossier))
    asyncio.run(request_all("p6-small", 5))
    wait_processed(system, "ActionPointOpened", before + scale.big_dossier + 5, timeout=900)

    with environment({k: v for k, v in system.env.items() if k.startswith("ACTIEPUNTEN_")}):
        from servicekit.settings import Settings
        from services.dossiercontrole_service.application import DossierChecks
        from services.dossiercontrole_service.domainmodel import DossierCheck

        settings = Settings.from_env("dossiercontrole", require_secret=False)
        app = DossierChecks(
            env={**settings.eventstore_env("dossiercontrole"), "AGGREGATE_CACHE_MAXSIZE": ""}
        )

    def cold_load(dossier: str) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            app.repository.get(DossierCheck.create_id(office.tenant, dossier))
            samples.append(time.perf_counter() - started)
        return 1000 * statistics.median(samples)

    big, small = cold_load("p6-big"), cold_load("p6-small")
    app.close()
    results.add(
        f"P6 load a dossier of {scale.big_dossier:,} documents",
        big,
        "ms",
        small,
        f"{big / small:.1f}x a dossier of 5 (target <= 2x)",
    )

    def upload_s(document: dict[str, Any]) -> float:
        started = time.perf_counter()
        response = system.post(
            "dossiercontrole",
            f"/documents/{document['document_id']}/upload",
            office.adviser,
            files={"file": ("scan.png", PNG, "image/png")},
        )
        response.raise_for_status()
        return time.perf_counter() - started

    # Alternately to either dossier, so that both see the same moments of a busy machine; the
    # small one's 5 documents each get several versions.
    big_documents = random.sample(system.documents(office, "p6-big"), UPLOADS)
    small_documents = system.documents(office, "p6-small")
    samples: dict[str, list[float]] = {"big": [], "small": []}
    for index in range(UPLOADS):
        samples["big"].append(upload_s(big_documents[index]))
        samples["small"].append(upload_s(small_documents[index % len(small_documents)]))
    big, small = (1000 * statistics.median(samples[size]) for size in ("big", "small"))
    results.add(
        "P6 upload to it over HTTP (cached)",
        big,
        "ms",
        small,
        f"{big / small:.1f}x the dossier of 5 (target <= 2x)",
    )


def bench_store(
    broker: Broker,
    store: str,
    env: dict[str, str],
    tmp: Path,
    scale: Scale,
    servers: Mapping[str, str],
) -> Results:
    where = f"Kafka '{broker.kind}' at {broker.bootstrap_servers}"
    print(f"\nend to end on {store}, {where}", flush=True)
    results = Results(store)
    system = System(
        broker.bootstrap_servers,
        tmp / f"system-{store}",
        idempotence=broker.supports_idempotence,
        extra_env=env,
    )
    system.start()
    try:
        # Ready for P1 only once the services caught up with the topics (the document types
        # the start seeds): their counters would count that history as P1's records.
        wait_until_caught_up(system, timeout=1200)
        office = system.office()
        parts = parts_from_env()
        if "p1" in parts:
            p1_throughput(system, office, scale, results, servers)
        if "p1k" in parts:
            kafka_path.p1k_kafka_path(system, office, scale, results, servers)
        if "p2" in parts:
            p2_latency(system, office, scale, results)
        if "p3" in parts:
            p3_to_p5(system, office, scale, results)
        if "p6" in parts:
            p6_big_dossier(system, office, scale, results)
        if "d1" in parts:
            downloads.d1_download_memory(system, office, results)
        if "wq" in parts:
            from bench.work_queue import work_queue_p99  # it imports this module

            work_queue_p99(system, scale.work_queue_items, results)
    finally:
        system.stop()
    return results


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run(stores: list[str]) -> list[Results]:
    # aiokafka logs the end of the raw relay's consumer groups (their coordinator) as errors.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    scale = Scale.from_env()
    print(f"scale: {scale}")
    all_results = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        server: PostgresServer | None = None
        try:
            for store in stores:
                if store == "postgres":
                    if not postgres_available():
                        print("\nno PostgreSQL binaries: PostgreSQL skipped")
                        continue
                    server = server or start_throwaway()
                    env = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
                else:
                    env = {"ACTIEPUNTEN_PERSISTENCE": "sqlite"}
                # A broker of its own: a store's system does not first consume what the other
                # store's run published (its big dossier would be in P4's memory figures).
                broker = provide_broker(tmp / f"kafka-{store}", port=None)
                servers = {"broker": str(tmp / f"kafka-{store}")}
                if server is not None and store == "postgres":
                    servers["postgres"] = str(server.data_dir)
                try:
                    asyncio.run(create_topics(broker.bootstrap_servers))
                    all_results.append(bench_store(broker, store, env, tmp, scale, servers))
                finally:
                    broker.stop()
        finally:
            if server is not None:
                server.remove()
    if scale not in (Scale(), Scale._named("full")) or parts_from_env() != set(PARTS):
        return all_results  # a smoke or partial run: keep it out of the record
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}-{commit()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "commit": commit(),
                "at": datetime.now(UTC).isoformat(),
                "scale": scale.__dict__,
                "stores": {r.store: r.rows for r in all_results},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nfigures written to {out.relative_to(ROOT)}")
    return all_results
