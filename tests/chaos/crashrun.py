"""The crash run: document requests through the running system while its processes die.

Requests enter as document lists (stukkenlijsten) on ``platform.documentlists.v1``, one document
each on a subject of its own, so every request must end as exactly one document in the dossier
check and one open action point on the portal. Meanwhile a service is killed with SIGKILL and
restarted every few seconds, and the Apache Kafka broker is restarted once (its data on disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from devtools import Broker
from shared.events import topics
from tests.support import Office, System, cloud_event, count_by_subject, publish, read_events

DOSSIERS = 40
DOSSIER_IDS = [f"dossier-{d}" for d in range(DOSSIERS)]


@dataclass
class Report:
    requests: int
    kills: int = 0
    restarts: int = 0
    broker_restarts: int = 0
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0
    portal_lost: int = 0
    portal_duplicated: int = 0
    notifications_lost: int = 0
    mails_unrecorded: int = 0
    points_under_two_message_ids: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"crash run: requests={self.requests} kills={self.kills} restarts={self.restarts} "
            f"broker_restarts={self.broker_restarts} lost={self.lost} "
            f"duplicated={self.duplicated} portal_lost={self.portal_lost} "
            f"portal_duplicated={self.portal_duplicated} "
            f"notifications_lost={self.notifications_lost} "
            f"mails_unrecorded={self.mails_unrecorded} "
            f"points_under_two_message_ids={self.points_under_two_message_ids} "
            f"in {self.seconds:.1f}s"
        )


def _envelope(tenant: str, index: int) -> tuple[bytes, bytes]:
    dossier = f"dossier-{index % DOSSIERS}"
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "crash-run/lender",
        "type": "DocumentListReceived",
        "time": datetime.now(UTC).isoformat(),
        "tenantid": tenant,
        "dossierid": dossier,
        "dataversion": 1,
        "data": {
            "subject": {"type": "product", "id": f"product-{index}", "scope": "hypotheek"},
            "reference": f"crash-{index}",
            "items": [{"document_type": "loonstrook", "title": f"Loonstrook {index}"}],
        },
    }
    return json.dumps(event).encode(), f"{tenant}:{dossier}".encode()


async def produce_requests(bootstrap: str, tenant: str, count: int, spread: float) -> None:
    """Send every request once acknowledged; a send that fails (broker restart) is resent,
    which the scenario service absorbs (document lists are idempotent on their reference)."""
    pause = spread / max(1, count // 100)
    index = 0
    while index < count:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            await producer.start()
            while index < count:
                batch = range(index, min(index + 100, count))
                futures = []
                for i in batch:
                    value, key = _envelope(tenant, i)
                    futures.append(await producer.send(topics.DOCUMENT_LISTS, value, key=key))
                await asyncio.gather(*futures)
                index = batch[-1] + 1
                await asyncio.sleep(pause)  # spread the requests over the kills
        except (KafkaError, OSError):
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()


def _killer(
    system: System, broker: Broker, report: Report, stop: threading.Event, interval: float
) -> None:
    rng = random.Random(7)
    while not stop.wait(interval):
        service = rng.choice(["scenario", "dossiercontrole", "portal", "notification"])
        system.kill(service)
        report.kills += 1
        if report.kills == 3:
            # Once, with a service down: the broker goes away and comes back with its data.
            broker.restart()
            report.broker_restarts += 1
        system.start(service)
        report.restarts += 1


def crash_run(
    system: System,
    broker: Broker,
    requests: int,
    *,
    mail: Any,
    kill_interval: float = 3.0,
    spread: float = 30.0,
    settle_timeout: float = 600.0,
) -> Report:
    """Send ``requests`` over about ``spread`` seconds while killing a service every
    ``kill_interval`` seconds; then wait for the system to settle and count."""
    report = Report(requests)
    office = system.office()
    tell_every_dossier(system, office)
    started = time.monotonic()
    stop = threading.Event()
    killer = threading.Thread(
        target=_killer, args=(system, broker, report, stop, kill_interval), daemon=True
    )
    killer.start()
    asyncio.run(produce_requests(broker.bootstrap_servers, office.tenant, requests, spread))
    # Keep killing a little after the last request, so that the tail of the work is hit too.
    time.sleep(kill_interval * 2)
    stop.set()
    killer.join()
    expected = {f"product-{i}" for i in range(requests)}
    deadline = time.monotonic() + settle_timeout
    documents: Counter[str] = Counter()
    points: Counter[str] = Counter()
    while time.monotonic() < deadline:
        documents, points = count_by_subject(system, office, DOSSIER_IDS)
        if set(documents) >= expected and set(points) >= expected:
            break
        time.sleep(2.0)
    time.sleep(3.0)  # anything still in flight that would double an entry has landed by now
    documents, points = count_by_subject(system, office, DOSSIER_IDS)
    report.lost = len(expected - set(documents))
    report.duplicated = sum(n - 1 for n in documents.values() if n > 1)
    report.portal_lost = len(expected - set(points))
    report.portal_duplicated = sum(n - 1 for n in points.values() if n > 1)
    count_notifications(system, office, mail, report)
    report.seconds = time.monotonic() - started
    return report


def tell_every_dossier(system: System, office: Office) -> None:
    """A contact per dossier at ``office.tenant``'s own mail domain; a digest every second."""
    quick = {"digest_window": "PT1S", "quiet_hours": None, "quiet_days": []}
    answer = system.put("notification", "/notification-settings", office.admin, json=quick)
    assert answer.status_code == 200, answer.text
    for dossier in DOSSIER_IDS:
        data = {"dossier_id": dossier, "client_id": f"klant-{dossier}", "name": "Klant"}
        data.update(email=f"{dossier}@{office.tenant}.example", salutation="informal")
        event = cloud_event("ClientContactChanged", office.tenant, dossier, data)
        publish(system.bootstrap_servers, topics.CLIENTS, event, f"{office.tenant}:{dossier}")


def count_notifications(
    system: System, office: Office, mail: Any, report: Report, timeout: float = 300.0
) -> None:
    """Every action point mailed (``NotificationSent``), every mail that arrived recorded as
    sent, and no action point sent to a contact under two ``Message-ID``s."""
    points: set[str] = set()

    def all_told(events: list[dict[str, Any]]) -> bool:
        points.update(
            p
            for e in events
            if e["type"] == "NotificationSent"
            for p in e["data"]["action_point_ids"]
        )
        return len(points) >= report.requests

    with contextlib.suppress(AssertionError):
        read_events(
            system.bootstrap_servers,
            topics.NOTIFICATIONS,
            office.tenant,
            until=all_told,
            timeout=timeout,
        )
    sent = read_events(
        system.bootstrap_servers, topics.NOTIFICATIONS, office.tenant, until=lambda _: True
    )
    ids_of: dict[tuple[str, str], set[str]] = {}
    for event in sent:
        if event["type"] == "NotificationSent":
            data = event["data"]
            for point in data["action_point_ids"]:
                ids_of.setdefault((data["client_id"], point), set()).add(data["message_id"])
    recorded = {mid.strip("<>") for ids in ids_of.values() for mid in ids}
    report.notifications_lost = report.requests - len({point for _, point in ids_of})
    report.points_under_two_message_ids = sum(1 for ids in ids_of.values() if len(ids) > 1)
    report.mails_unrecorded = len(set(mail.message_ids(f"{office.tenant}.example")) - recorded)


def report_lines(report: Report) -> list[str]:
    return [str(report), *report.notes]
