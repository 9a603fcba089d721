"""Test harness: a real broker, the three services as processes, tokens, and waiting helpers."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pypdf import PdfWriter

from servicekit.auth import issue_token
from servicekit.kafka import TopicReader
from servicekit.services import SERVICES
from shared.events import topics

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns without AssertionError; re-raise the last failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


@dataclass
class Office:
    """One tenant (office) with tokens for each role; every test gets its own office."""

    secret: str
    tenant: str = field(default_factory=lambda: f"kantoor-{uuid.uuid4().hex[:8]}")

    def token(
        self,
        role: str,
        sub: str | None = None,
        dossiers: list[str] | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        return issue_token(
            self.secret,
            sub=sub or f"{role}-1",
            tenant=self.tenant,
            role=role,
            dossiers=dossiers,
            ttl_seconds=ttl_seconds,
        )

    def headers(self, role: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kwargs)}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers("admin")

    @property
    def adviser(self) -> dict[str, str]:
        return self.headers("adviser")

    def client(self, *dossiers: str) -> dict[str, str]:
        return self.headers("client", sub="klant-" + "-".join(dossiers), dossiers=list(dossiers))


class System:
    """The four services as separate processes over one broker, with their own data dir."""

    def __init__(
        self,
        bootstrap_servers: str,
        data_dir: Path,
        *,
        idempotence: bool = True,
        extra_env: dict[str, str] | None = None,
        service_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """``service_env`` adds to one service's environment (its own Kafka user, say)."""
        self.bootstrap_servers = bootstrap_servers
        self.data_dir = data_dir
        self.secret = uuid.uuid4().hex + uuid.uuid4().hex
        self.ports = {name: free_port() for name in SERVICES}
        group_suffix = uuid.uuid4().hex[:8]
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "ACTIEPUNTEN_KAFKA_IDEMPOTENCE": "true" if idempotence else "false",
            "ACTIEPUNTEN_JWT_SECRET": self.secret,
            "ACTIEPUNTEN_DATA_DIR": str(data_dir),
            **{f"ACTIEPUNTEN_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
            # A fresh consumer group per system, so test systems never share partitions.
            **{
                f"ACTIEPUNTEN_{name.upper()}_GROUP": f"test.{name}.{group_suffix}"
                for name in SERVICES
            },
            **(extra_env or {}),
        }
        self.service_env = service_env or {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def signin_link(self, token: str, next_path: str = "/app/") -> str:
        """A one-time confirm link for the person of ``token`` (its office, role, sub and
        dossiers), written into this system's sign-in store as `actiepunten signin-link` does."""
        from unittest import mock

        from servicekit.auth import decode_token
        from servicekit.settings import Settings
        from services.portal_projection.signins import Person, signin_link

        who = decode_token(token, self.secret)
        dossiers = tuple(sorted(who.dossiers)) if who.role == "client" else None
        person = Person(who.tenant, who.role, who.sub, dossiers=dossiers)
        with mock.patch.dict(os.environ, self.env, clear=True):
            settings = Settings.from_env("portal")
        return signin_link(settings, person, self.url("portal"), next_path)

    def sign_in(self, browser: httpx.Client, token: str) -> httpx.Response:
        """Sign ``browser`` in as the person of ``token`` through the pages: the confirm page's
        button (a POST of the one-time code); the answer is the 303 to /app/."""
        code = httpx.URL(self.signin_link(token)).params["code"]
        return browser.post(f"{self.url('portal')}/app/signin/confirm", data={"code": code})

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self, *services: str) -> None:
        for name in services or tuple(SERVICES):
            self.data_dir.mkdir(parents=True, exist_ok=True)
            log = (self.data_dir / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "actiepunten", "serve", name],
                env={**self.env, **self.service_env.get(name, {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        for name in services or tuple(SERVICES):
            self.wait_healthy(name)

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                if httpx.get(self.url(name) + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not healthy in {timeout}s:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, *names: str) -> None:
        for name in names or tuple(self.processes):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                # Within the services' grace period (20 s by default), and a margin.
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def spans(self) -> list[dict[str, Any]]:
        """The finished spans of every service (with ``ACTIEPUNTEN_TRACE_FILE`` set)."""
        path = Path(self.env["ACTIEPUNTEN_TRACE_FILE"])
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def office(self) -> Office:
        return Office(self.secret)

    # --- HTTP shortcuts used by the stories ----------------------------------------------------

    # One client for every call: a new client per call costs a connection and TLS-free setup
    # that adds up over hundreds of calls on a loaded machine.
    _http = httpx.Client(timeout=10)

    def get(self, service: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        return self._http.get(self.url(service) + path, headers=headers, **kw)

    def post(self, service: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        return self._http.post(self.url(service) + path, headers=headers, **kw)

    def put(self, service: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        return self._http.put(self.url(service) + path, headers=headers, **kw)

    def delete(self, service: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        return self._http.delete(self.url(service) + path, headers=headers, **kw)

    def portal(self, office: Office, dossier_id: str) -> dict[str, Any]:
        response = self.get(
            "portal", f"/portal/dossiers/{dossier_id}/action-points", office.client(dossier_id)
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def portal_all(self, office: Office, dossier_id: str) -> list[dict[str, Any]]:
        """Every action point of the dossier's portal, page by page."""
        path = f"/portal/dossiers/{dossier_id}/action-points"
        return self.every_page("portal", path, office.client(dossier_id), "action_points")

    def documents(self, office: Office, dossier_id: str) -> list[dict[str, Any]]:
        """Every document of the dossier check, page by page."""
        path = f"/dossiers/{dossier_id}/documents"
        return self.every_page("dossiercontrole", path, office.adviser, "documents")

    def every_page(
        self, service: str, path: str, headers: dict[str, str], key: str
    ) -> list[dict[str, Any]]:
        """The ``key`` items of a paged list, following ``next_cursor`` to its end."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 500}
        while True:
            response = self.get(service, path, headers, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body[key])
            if not body.get("next_cursor"):
                return items
            params["cursor"] = body["next_cursor"]

    def define_scenario(
        self,
        office: Office,
        scope: str,
        *document_types: str,
        name: str = "Scenario",
        trigger: dict[str, Any] | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "name": name,
            "scope": scope,
            "items": items or [{"document_type": t} for t in document_types],
        }
        if trigger:
            body["trigger"] = trigger
        response = self.post("scenario", "/scenarios", office.admin, json=body)
        assert response.status_code == 201, response.text
        return response.json()["scenario_id"]  # type: ignore[no-any-return]


def scenario_items_of_size(size: int, count: int = 200) -> list[dict[str, Any]]:
    """``count`` scenario items whose JSON, as an event carries them, is exactly ``size`` bytes:
    100-character document types and titles of up to 300 characters of 4-byte emoji."""
    from pydantic import TypeAdapter

    from shared.events.contracts import RequestedItem

    adapter = TypeAdapter(list[RequestedItem])

    def encoded(items: list[dict[str, Any]]) -> int:
        return len(adapter.dump_json(adapter.validate_python(items), exclude_none=True))

    items: list[dict[str, Any]] = [
        {
            "document_type": f"{index:03d}".translate(str.maketrans("0123456789", "abcdefghij"))
            + "_" * 97,
            "title": "",
            "action_point": False,
        }
        for index in range(count)
    ]
    remaining = size - encoded(items)
    for item in items:
        emoji = min(remaining // 4, 300)
        plain = min(remaining - 4 * emoji, 300 - emoji)
        item["title"] = "\U0001f4c4" * emoji + "x" * plain
        remaining -= 4 * emoji + plain
    assert remaining == 0 and encoded(items) == size, f"{count} items cannot take {size} bytes"
    return items


def product(product_id: str = "hyp-1", scope: str = "hypotheek") -> dict[str, str]:
    return {"type": "product", "id": product_id, "scope": scope}


def read_events(
    bootstrap_servers: str,
    topic: str,
    tenant: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning and return the envelopes of one office, once ``until``
    is satisfied with them (or fail after ``timeout``)."""
    return read_records(
        bootstrap_servers,
        topic,
        keep=lambda envelope: envelope.get("tenantid") == tenant,
        until=until,
        timeout=timeout,
    )


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


# --- raw records, unique events and dead letters (dossier-check, access and DLQ stories) -------
# On a shared broker other running systems consume the same topics in their own consumer groups:
# they republish the same facts (same deterministic event ids) and dead-letter the same bad
# records. Stories therefore count events by id and dead letters by origin.


def publish_raw_batch(
    bootstrap_servers: str,
    topic: str,
    records: list[tuple[bytes | str | None, bytes | None]],
) -> list[tuple[int, int]]:
    """Publish ``(key, value)`` records as they are, in order; returns each (partition, offset)."""
    return publish_many(
        bootstrap_servers,
        topic,
        [(value, key.decode() if isinstance(key, bytes) else key) for key, value in records],
    )


def publish_raw(
    bootstrap_servers: str, topic: str, value: bytes | None, key: bytes | str | None = None
) -> tuple[int, int]:
    """Publish one record as it is (no envelope, no checks); returns its (partition, offset)."""
    [placed] = publish_raw_batch(bootstrap_servers, topic, [(key, value)])
    return placed


def unique_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` without repeats of an event id (at-least-once, or another system's relay)."""
    seen: set[str] = set()
    unique = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            unique.append(event)
    return unique


def read_dead_letters(
    bootstrap_servers: str,
    dlq_topic: str,
    among: list[tuple[str, int, int]],
    *,
    expected: list[tuple[str, int, int]],
    timeout: float = 20.0,
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """The dead letters on ``dlq_topic`` for records ``among`` the origins (topic, partition,
    offset) given, one per origin, once those ``expected`` arrived (or fail after ``timeout``).

    Publish the last expected record after the others: a consumer handles a partition in order,
    so by then any other record of ``among`` that was dead-lettered is there too."""
    candidates, wanted = set(among), set(expected)

    def origin_of(letter: dict[str, Any]) -> tuple[str, int, int]:
        origin = letter.get("origin", {})
        return (origin.get("topic"), origin.get("partition"), origin.get("offset"))

    letters = read_records(
        bootstrap_servers,
        dlq_topic,
        keep=lambda letter: origin_of(letter) in candidates,
        until=lambda found: wanted <= {origin_of(letter) for letter in found},
        timeout=timeout,
    )
    found: dict[tuple[str, int, int], dict[str, Any]] = {}
    for letter in letters:
        found.setdefault(origin_of(letter), letter)
    return found


def dossiers_on_every_partition(tenant: str, partitions: int = 3) -> list[str]:
    """Dossier ids of ``tenant`` whose record keys land on partition 0, 1, ... of a topic
    (the producers' default partitioner, murmur2)."""
    from aiokafka.partitioner import DefaultPartitioner

    partitioner, numbers = DefaultPartitioner(), list(range(partitions))
    found: dict[int, str] = {}
    candidate = 0
    while len(found) < partitions:
        dossier_id = f"probe-{candidate}"
        found.setdefault(
            partitioner(f"{tenant}:{dossier_id}".encode(), numbers, numbers), dossier_id
        )
        candidate += 1
    return [found[partition] for partition in numbers]


def wait_until_caught_up(system: System, timeout: float = 180.0) -> float:
    """Wait until a fresh system has worked through the history of the topics; returns the
    seconds it took. Its consumers start from the beginning (as a new read model must): on a
    long-lived shared broker that is everything every other system published. A probe request
    per partition that reaches the portal marks the end of that history."""
    started = time.monotonic()
    office = system.office()
    dossiers = dossiers_on_every_partition(office.tenant)
    for dossier_id in dossiers:
        response = system.post(
            "scenario",
            "/document-requests",
            office.adviser,
            json={"dossier_id": dossier_id, "subject": product(), "document_type": "probe"},
        )
        assert response.status_code == 201, response.text

    def probes_arrived() -> None:
        for dossier_id in dossiers:
            assert system.portal(office, dossier_id)["action_points"], dossier_id

    eventually(probes_arrived, timeout=timeout, interval=0.5)
    return time.monotonic() - started


def wait_until_notified_up(system: System, timeout: float = 300.0) -> None:
    """Wait (after ``wait_until_caught_up``) until the notification service has read the
    dossier-check topic to its end: its consumer lag there is 0 on every partition. It reads one
    record at a time and a shared broker's history is long; mail stories start after it."""

    def read_to_the_end() -> None:
        lags = [
            float(line.rsplit(" ", 1)[1])
            for line in system.get("notification", "/metrics", {}).text.splitlines()
            if line.startswith("actiepunten_consumer_lag{")
            and f'topic="{topics.DOSSIERCONTROLE}"' in line
        ]
        assert lags and not any(lags), lags

    eventually(read_to_the_end, timeout=timeout, interval=1.0)


# --- helpers for the scenario, scheduling and platform-trigger stories ---------------------------


def cloud_event(
    event_type: str,
    tenant: str,
    dossier: str | None,
    data: dict[str, Any],
    *,
    source: str = "platform/test",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A CloudEvents envelope as another platform service would publish it (SPEC section 3)."""
    from datetime import UTC, datetime

    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "tenantid": tenant,
        "dataversion": 1,
        "data": data,
    }
    if dossier is not None:
        envelope["dossierid"] = dossier
    return envelope


def publish_many(
    bootstrap_servers: str,
    topic: str,
    records: list[tuple[dict[str, Any] | bytes | None, str | None]],
) -> list[tuple[int, int]]:
    """Send ``(value, key)`` records in this order (a dict as JSON, bytes as they are, None as
    a record without value); returns each one's (partition, offset)."""
    import asyncio
    import json

    from aiokafka import AIOKafkaProducer

    async def send() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
        await producer.start()
        try:
            placed = []
            for value, key in records:
                raw = (
                    value
                    if value is None or isinstance(value, bytes)
                    else json.dumps(value).encode()
                )
                metadata = await producer.send_and_wait(
                    topic, raw, key=key.encode() if key is not None else None
                )
                placed.append((metadata.partition, metadata.offset))
            return placed
        finally:
            await producer.stop()

    return asyncio.run(send())


def publish(
    bootstrap_servers: str, topic: str, value: dict[str, Any] | bytes, key: str | None
) -> tuple[int, int]:
    """Send one record (an envelope dict is sent as JSON); returns its (partition, offset)."""
    [placed] = publish_many(bootstrap_servers, topic, [(value, key)])
    return placed


def json_record(record: Any) -> dict[str, Any] | None:
    """A record's JSON object with ``_key``, ``_partition``, ``_offset`` and ``_headers`` beside
    its fields;
    None for a record that is not a JSON object."""
    import json

    try:
        document = json.loads(record.value)
    except (TypeError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    document["_key"] = record.key
    document["_partition"] = record.partition
    document["_offset"] = record.offset
    document["_headers"] = {
        key: bytes(value).decode("latin-1") for key, value in record.headers or ()
    }
    return document


def read_records(
    bootstrap_servers: str,
    topic: str,
    *,
    keep: Callable[[dict[str, Any]], bool],
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 15.0,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning and return its JSON records that ``keep`` accepts,
    once ``until`` is satisfied with them (or fail after ``timeout``).

    Each record carries ``_key``, ``_partition`` and ``_offset`` beside its own fields.
    """
    import asyncio

    async def consume() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        def take(records: list[Any]) -> None:
            for record in records:
                document = json_record(record)
                if document is not None and keep(document):
                    found.append(document)

        async with TopicReader(bootstrap_servers, topic) as reader:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                take(await reader.fetch())
                if until(found):
                    # Records on other partitions may lag behind the one that satisfied
                    # ``until``: read every partition up to its end as of now.
                    take(await reader.to_end())
                    return found
        raise AssertionError(f"{topic}: condition not met; kept {len(found)} records")

    return asyncio.run(consume())


def start_replica(
    system: System, service: str, replica: int = 2, *, data_dir: Path | None = None
) -> str:
    """Start one more process of ``service`` on its own port, sharing the system's consumer
    group and store (as a second deployment replica would), and its data dir unless
    ``data_dir`` gives another (a replica on another machine); returns its name for
    ``system.url``, ``system.stop`` and ``system.log``."""
    name = f"{service}-{replica}"
    system.ports[name] = free_port()
    env = {**system.env, f"ACTIEPUNTEN_{service.upper()}_PORT": str(system.ports[name])}
    if data_dir is not None:
        env["ACTIEPUNTEN_DATA_DIR"] = str(data_dir)
    log = (system.data_dir / f"{name}.log").open("ab")
    system.processes[name] = subprocess.Popen(
        [sys.executable, "-m", "actiepunten", "serve", service],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    system.wait_healthy(name)
    return name


def start_runs(
    system: System,
    office: Office,
    dossier_id: str,
    subject: dict[str, Any],
    *scenario_ids: str,
    **when: str,
) -> httpx.Response:
    """The adviser's "Start scenario" (Scenario starten); ``when`` holds ``execute_on``,
    ``execute_at_time`` or ``execute_at`` as the API takes them."""
    body: dict[str, Any] = {
        "dossier_id": dossier_id,
        "subject": subject,
        "scenario_ids": list(scenario_ids),
        **when,
    }
    return system.post("scenario", "/scenario-runs", office.adviser, json=body)


def run_reaches(
    system: System, office: Office, run_id: str, status: str, *, timeout: float = 15.0
) -> dict[str, Any]:
    """Poll ``GET /scenario-runs/{run_id}`` until the run has ``status``; returns the run."""

    def check() -> dict[str, Any]:
        response = system.get("scenario", f"/scenario-runs/{run_id}", office.adviser)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        assert run["status"] == status, run
        return run

    return eventually(check, timeout=timeout, interval=0.02)


def read_to_end(
    bootstrap_servers: str, topic: str, *, keep: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Every JSON record now on ``topic`` that ``keep`` accepts: for asserting that something
    is *not* there, once the effect of a later record was seen. Records carry ``_key``,
    ``_partition`` and ``_offset``."""
    import asyncio

    async def consume() -> list[dict[str, Any]]:
        async with TopicReader(bootstrap_servers, topic) as reader:
            documents = [json_record(record) for record in await reader.to_end()]
        return [document for document in documents if document is not None and keep(document)]

    return asyncio.run(consume())


def stored_blob(system: System, sha256: str) -> bytes | None:
    """The uploaded bytes the dossier-check service keeps under ``sha256``, wherever its store
    keeps them (the data dir's folder on SQLite, the shared table on PostgreSQL); None if none."""
    if system.env.get("ACTIEPUNTEN_PERSISTENCE") != "postgres":
        path = system.data_dir / "blobs" / sha256[:2] / sha256
        return path.read_bytes() if path.exists() else None
    import psycopg

    params = {
        "host": system.env.get("ACTIEPUNTEN_POSTGRES_HOST", "127.0.0.1"),
        "port": int(system.env.get("ACTIEPUNTEN_POSTGRES_PORT", "5432")),
        "user": system.env.get("ACTIEPUNTEN_POSTGRES_USER", "postgres"),
        "password": system.env.get("ACTIEPUNTEN_POSTGRES_PASSWORD") or None,
        "dbname": system.env.get("ACTIEPUNTEN_POSTGRES_DBNAME", "actiepunten"),
    }
    with psycopg.connect(**params) as conn:
        row = conn.execute(
            "SELECT content FROM actiepunten_dossiercontrole.blobs WHERE sha256 = %s", (sha256,)
        ).fetchone()
    return bytes(row[0]) if row else None


def count_by_subject(
    system: System, office: Office, dossier_ids: Iterable[str]
) -> tuple[Counter[str], Counter[str]]:
    """How many documents (dossier check) and action points (portal) each subject id has over
    these dossiers: a crash story's lost and doubled requests, one request per subject."""
    documents: Counter[str] = Counter()
    points: Counter[str] = Counter()
    for dossier_id in dossier_ids:
        for document in system.documents(office, dossier_id):
            documents[document["subject"]["id"]] += 1
        for point in system.portal_all(office, dossier_id):
            points[point["subject"]["id"]] += 1
    return documents, points


def pdf_file(note: str = "", size: int | None = None, fill: bytes = b"\0") -> bytes:
    """A real PDF of one blank page (the dossier check opens every PDF it is sent, and refuses
    one it cannot read): ``note`` in its metadata makes it unique, and ``size`` pads it to
    exactly that many bytes with an attachment of ``fill``."""
    padding = 0
    for _ in range(8):
        writer = PdfWriter()
        writer.add_blank_page(595, 842)
        if note:
            writer.add_metadata({"/Subject": note})
        if size is not None:
            writer.add_attachment("opvulling.bin", (fill * (padding // len(fill) + 1))[:padding])
        out = io.BytesIO()
        writer.write(out)
        content = out.getvalue()
        if size is None or len(content) == size:
            return content
        padding = max(0, padding + size - len(content))
    raise ValueError(f"no PDF of exactly {size} bytes")


def open_sealed(system: System, office: Office, dossier: str, sealed: str) -> str:
    """A sealed personal field of our topics opened as a platform service does (SPEC section
    11): the dossier's key from ``GET /dossiers/{id}/data-key`` with a ``service`` token,
    AES-256-GCM with ``<tenant>:<dossier>`` as associated data."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    assert sealed.startswith("enc:v1:"), f"not sealed: {sealed!r}"
    answer = system.get(
        "dossiercontrole", f"/dossiers/{dossier}/data-key", office.headers("service")
    )
    assert answer.status_code == 200, answer.text
    raw = base64.b64decode(sealed.removeprefix("enc:v1:"))
    key = base64.b64decode(answer.json()["key"])
    context = f"{office.tenant}:{dossier}".encode()
    return AESGCM(key).decrypt(raw[:12], raw[12:], context).decode()
