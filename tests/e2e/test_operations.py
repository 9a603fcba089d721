"""Stories of operations: rebuild the portal, republish, audit a dossier, retry dead letters."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from devtools import Broker
from shared.events import topics
from tests.support import (
    Office,
    System,
    cloud_event,
    dossiers_on_every_partition,
    eventually,
    pdf_file,
    product,
    publish,
    read_records,
    wait_until_caught_up,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


PDF = pdf_file()


def actiepunten(system: System, *args: str, timeout: float = 120) -> str:
    """Run an operations command beside the system, with the services' environment."""
    result = subprocess.run(
        [sys.executable, "-m", "actiepunten", *args],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def a_worked_dossier(system: System) -> tuple[Office, list[dict[str, Any]], datetime]:
    """A dossier with three requests: one uploaded, one action point removed, one open."""
    office = system.office()
    scenario_id = system.define_scenario(
        office, "hypotheek", "identiteitsbewijs", "werkgeversverklaring", "finale_kwijting"
    )
    response = system.post(
        "scenario",
        "/scenario-runs",
        office.adviser,
        json={"dossier_id": "dossier-1", "subject": product(), "scenario_ids": [scenario_id]},
    )
    assert response.status_code == 201, response.text
    documents = eventually(lambda: _three(system.documents(office, "dossier-1")), timeout=30)
    before_upload = datetime.now(UTC)
    time.sleep(0.05)
    by_type = {d["document_type"]: d for d in documents}
    upload = system.post(
        "dossiercontrole",
        f"/documents/{by_type['identiteitsbewijs']['document_id']}/upload",
        office.adviser,
        files={"file": ("paspoort.pdf", PDF, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    point = by_type["finale_kwijting"]["action_point"]["action_point_id"]
    assert (
        system.delete("dossiercontrole", f"/action-points/{point}", office.adviser).status_code
        == 204
    )

    def settled() -> list[dict[str, Any]]:
        points = system.portal(office, "dossier-1")["action_points"]
        assert sorted(p["status"] for p in points) == ["completed", "open"], points
        return points

    return office, eventually(settled, timeout=30), before_upload


def _three(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert len(documents) == 3, documents
    return documents


def test_replay_rebuilds_the_portal_equal_to_the_live_model(system: System) -> None:
    office, live, _ = a_worked_dossier(system)

    # Operations rebuild the portal's read model from the topic, from its beginning.
    output = actiepunten(system, "replay", "portal")
    assert "replay portal [" in output and "events/s" in output
    assert "portal read model rebuilt in" in output

    # The portal switches to the new model, which equals the live one.
    time.sleep(2.5)
    assert system.portal(office, "dossier-1")["action_points"] == live
    # ... and it keeps following the topic: a new request shows up.
    response = system.post(
        "scenario",
        "/document-requests",
        office.adviser,
        json={"dossier_id": "dossier-1", "subject": product(), "document_type": "loonstrook"},
    )
    assert response.status_code == 201
    eventually(lambda: _count(system.portal(office, "dossier-1"), 3), timeout=20)


class BusyStream:
    """The dossier check's topic under load: bursts of opened action points for one office, on a
    dossier per partition, so that the portal's consumer works through large batches."""

    def __init__(self, system: System, kafka: Broker, burst: int = 10, limit: int = 800) -> None:
        self.system = system
        self.bootstrap_servers = kafka.bootstrap_servers
        self.office = system.office()
        self.dossiers = dossiers_on_every_partition(self.office.tenant)
        self.burst = burst
        self.limit = limit
        self.published: dict[str, set[str]] = {d: set() for d in self.dossiers}
        self._stop = threading.Event()
        self._worker = threading.Thread(target=lambda: asyncio.run(self._publish()), daemon=True)

    async def _publish(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await producer.start()
        try:
            n = 0
            while not self._stop.is_set() and n < self.limit:
                sent = []
                for _ in range(self.burst):
                    for dossier_id in self.dossiers:
                        point = str(uuid.uuid4())
                        event = cloud_event(
                            "ActionPointOpened",
                            self.office.tenant,
                            dossier_id,
                            {
                                "action_point_id": point,
                                "document_id": str(uuid.uuid4()),
                                "dossier_id": dossier_id,
                                "subject": product(),
                                "document_type": f"stuk_{n}",
                                "title": f"Stuk {n}",
                                "opened_at": datetime.now(UTC).isoformat(),
                            },
                            source="actiepunten/dossiercontrole_service",
                        )
                        key = f"{self.office.tenant}:{dossier_id}".encode()
                        sent.append((dossier_id, point))
                        await producer.send(
                            topics.DOSSIERCONTROLE, json.dumps(event).encode(), key=key
                        )
                    n += 1
                await producer.flush()
                for dossier_id, point in sent:
                    self.published[dossier_id].add(point)
                await asyncio.sleep(0.2)
        finally:
            await producer.stop()

    def __enter__(self) -> BusyStream:
        self._worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._worker.join(timeout=60)

    def portal(self) -> dict[str, list[dict[str, Any]]]:
        return {d: self.system.portal_all(self.office, d) for d in self.dossiers}


def test_replay_during_a_busy_stream_loses_nothing(system: System, kafka: Broker) -> None:
    # Action points keep arriving while operations rebuild the portal and it switches.
    with BusyStream(system, kafka) as busy:
        eventually(lambda: _published_some(busy), timeout=60)
        for _ in range(2):
            _serving_after(system, _replayed(system))
            time.sleep(1.0)  # and a little longer, on the new model

    # Every action point published reaches the portal: none was skipped.
    def complete() -> dict[str, list[dict[str, Any]]]:
        portal = busy.portal()
        for dossier_id, points in portal.items():
            assert {p["action_point_id"] for p in points} == busy.published[dossier_id]
        return portal

    live = eventually(complete, timeout=120, interval=1.0)

    # A model built from scratch, now that the stream is quiet, equals what the portal served.
    _serving_after(system, _replayed(system))
    assert busy.portal() == live


def _replayed(system: System) -> str:
    """Rebuild the portal's read model; the name of the new model."""
    output = actiepunten(system, "replay", "portal", timeout=300)
    return output.split("portal read model rebuilt in ")[1].split()[0]


def _published_some(busy: BusyStream) -> None:
    assert all(len(points) >= 100 for points in busy.published.values()), busy.published


def _serving_after(system: System, model: str) -> None:
    """Wait until the portal serves ``model`` (it looks for a new one every second)."""

    def serving() -> None:
        log = (system.data_dir / "portal.log").read_text(errors="replace")
        assert f"serving read model {model}" in log

    eventually(serving, timeout=30, interval=0.2)


def _count(portal: dict[str, Any], expected: int) -> None:
    assert len(portal["action_points"]) == expected, portal


def test_republished_events_change_nothing(system: System) -> None:
    office, live, _ = a_worked_dossier(system)
    documents = system.documents(office, "dossier-1")

    # Operations re-emit everything both services ever published.
    assert "republished" in actiepunten(system, "republish", "scenario")
    assert "republished" in actiepunten(system, "republish", "dossiercontrole", "--from", "1")

    # The consumers see the repeats (the metrics say they processed more) ...
    def reprocessed() -> None:
        metrics = system.get("portal", "/metrics", {}).text
        completed = [
            line
            for line in metrics.splitlines()
            if line.startswith(
                'actiepunten_events_processed_total{topic="actiepunten.dossiercontrole.v1",'
                'type="ActionPointCompleted"}'
            )
        ]
        assert completed and float(completed[0].split()[-1]) >= 2, completed

    eventually(reprocessed, timeout=30)
    time.sleep(1.0)
    # ... and nothing changed: no document, action point or state came back or doubled.
    assert system.documents(office, "dossier-1") == documents
    assert system.portal(office, "dossier-1")["action_points"] == live


def test_dossier_history_tells_what_happened_and_how_the_check_was(system: System) -> None:
    office, _, before_upload = a_worked_dossier(system)

    history = actiepunten(system, "dossier", "history", "dossier-1", "--tenant", office.tenant)
    assert "ScenarioRun.Scheduled" in history and "ScenarioRun.Executed" in history
    assert history.count("DossierCheck.DocumentAdded") == 3
    assert "DossierCheck.DocumentUploaded" in history and "paspoort.pdf" in history
    assert "DossierCheck.ActionPointRemoved" in history and "by adviser:adviser-1" in history
    now_lines = [line for line in history.splitlines() if "identiteitsbewijs" in line]
    assert "uploaded" in now_lines[-1]

    # As it was before the upload: everything still requested, every action point open.
    earlier = actiepunten(
        system,
        "dossier",
        "history",
        "dossier-1",
        "--tenant",
        office.tenant,
        "--at",
        before_upload.isoformat(),
    )
    assert "DocumentUploaded" not in earlier
    check = earlier.split("Dossier check of dossier-1")[1].splitlines()[1:]
    assert len(check) == 3 and all("requested" in line and "open" in line for line in check)


def test_dead_letters_are_listed_and_sent_back_once(system: System, kafka: Broker) -> None:
    office = system.office()
    # A platform service sends a ProductCreated without the dossier it belongs to.
    bad = cloud_event(
        "ProductCreated", office.tenant, None, {"product_id": "hyp-9", "product_type": "hypotheek"}
    )
    partition, offset = publish(kafka.bootstrap_servers, topics.PRODUCTS, bad, f"{office.tenant}:")

    def letter_for(origin_offset: int) -> None:
        listing = actiepunten(system, "dlq", "list", "scenario")
        assert f"{topics.PRODUCTS}[{partition}]@{origin_offset}" in listing, listing

    eventually(lambda: letter_for(offset), timeout=30, interval=1.0)

    # Operations send it back; it fails again, and that second letter is not sent back again.
    assert "retried" in actiepunten(system, "dlq", "retry", "scenario")
    resent = read_records(
        kafka.bootstrap_servers,
        topics.PRODUCTS,
        keep=lambda r: r.get("id") == bad["id"],
        until=lambda found: len(found) >= 2,
    )
    assert len(resent) == 2
    again = read_records(
        kafka.bootstrap_servers,
        topics.SCENARIO_DLQ,
        keep=lambda r: isinstance(r.get("value"), dict) and r["value"].get("id") == bad["id"],
        until=lambda found: len(found) >= 2,
    )
    assert again[-1]["origin"]["retry_of"], again
    actiepunten(system, "dlq", "retry", "scenario")
    time.sleep(2.0)
    assert (
        len(
            read_records(
                kafka.bootstrap_servers,
                topics.PRODUCTS,
                keep=lambda r: r.get("id") == bad["id"],
                until=lambda found: len(found) >= 2,
            )
        )
        == 2
    )


def test_metrics_show_lag_throughput_backlog_and_runs(system: System) -> None:
    a_worked_dossier(system)

    def exposed() -> None:
        scenario = system.get("scenario", "/metrics", {}).text
        check = system.get("dossiercontrole", "/metrics", {}).text
        portal = system.get("portal", "/metrics", {}).text
        # Consumer lag per partition, on every consumer.
        for text, topic in (
            (scenario, topics.PRODUCTS),
            (check, topics.SCENARIO),
            (portal, topics.DOSSIERCONTROLE),
        ):
            for partition in range(3):
                assert (
                    f'actiepunten_consumer_lag{{partition="{partition}",topic="{topic}"}}' in text
                ), (topic, partition)
        # What was processed, skipped and dead-lettered; what the relays still have to send.
        assert 'actiepunten_events_processed_total{topic="actiepunten.scenario.v1"' in check
        assert "actiepunten_events_skipped_total" in check
        assert "actiepunten_events_dead_lettered" in portal
        assert 'actiepunten_relay_backlog{topic="actiepunten.scenario.v1"}' in scenario
        assert 'actiepunten_relay_backlog{topic="actiepunten.dossiercontrole.v1"}' in check
        # The scheduler's view.
        assert "actiepunten_runs_scheduled " in scenario
        assert "actiepunten_runs_executed_total" in scenario

    eventually(exposed, timeout=20, interval=0.5)
