"""A read model written before the work queue gets it without an operator's command.

``tests/data/portal_model_v1.sql`` is the portal's model as the code before the work queue
wrote it, from the records of ``portal_model_v1_events.jsonl``. The portal knows it by its
version, keeps serving its client portal, answers 503 for the work queue meanwhile, and rebuilds
it from the topic in the background (one replica at a time); then every replica switches.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from servicekit.auth import issue_token
from servicekit.lease import FileLease
from servicekit.settings import Settings
from services.portal_projection import main, replay
from services.portal_projection.stores import (
    DEFAULT_NAME,
    VERSION,
    SQLiteStore,
    current_name,
    open_store,
)
from services.portal_projection.views import PortalView, WorkQueueNotBuilt
from shared.events import topics
from tests.unit.test_work_queue import page

DATA = Path(__file__).resolve().parent.parent / "data"
OFFICE, DOSSIER = "kantoor-utrecht", "dossier-1"
SECRET = "portal-upgrade-unit-test-" + "x" * 32


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


class TheTopic:
    """The dossier-check topic behind the old model, read as ``TopicReader`` reads it."""

    def __init__(self) -> None:
        lines = (DATA / "portal_model_v1_events.jsonl").read_text().splitlines()
        values = [line.encode() for line in lines if not line.startswith("#")]
        self.records = [Record(topics.DOSSIERCONTROLE, 0, n, v) for n, v in enumerate(values)]

    async def __aenter__(self) -> TheTopic:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def remaining(self) -> int:
        return len(self.records)

    async def batches(self) -> AsyncIterator[tuple[Any, list[Any]]]:
        for start in range(0, len(self.records), 5):
            yield None, self.records[start : start + 5]


def written_before_the_work_queue(data_dir: Path) -> Settings:
    """A data dir whose served model is the one the older code wrote."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / DEFAULT_NAME)
    db.executescript((DATA / "portal_model_v1.sql").read_text())
    db.close()
    return Settings(
        service="portal", data_dir=data_dir, kafka_bootstrap_servers="unused", jwt_secret=SECRET
    )


def test_a_model_written_before_the_work_queue_serves_the_client_portal_and_says_so(
    tmp_path: Path,
) -> None:
    settings = written_before_the_work_queue(tmp_path)
    app = main.create_app(settings)
    view: PortalView = app.state.view
    try:
        assert view.store.version == 1 < VERSION
        # The client portal is as it was.
        points = {p["title"]: p for p in view.action_points(OFFICE, DOSSIER)}
        assert {t: (p["status"], p["document_status"]) for t, p in points.items()} == {
            "Identiteitsbewijs": ("completed", "uploaded"),
            "Loonstrook": ("open", "requested"),
            "Werkgeversverklaring": ("completed", "approved"),
        }
        assert view.dossier_progress(OFFICE, DOSSIER)["completed"] == 1  # approved counts
        # The work queue would miss what happened before the upgrade: not served yet.
        with pytest.raises(WorkQueueNotBuilt):
            page(view, "to_review")
        token = issue_token(SECRET, sub="jan", tenant=OFFICE, role="adviser")
        http = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        for path in ("/work-queue?kind=overdue", "/work-queue/summary"):
            answer = http.get(path)
            assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
            assert "being built" in answer.json()["detail"]
        assert http.get(f"/portal/dossiers/{DOSSIER}/action-points").status_code == 200
    finally:
        view.close()

    # Opened again, it is still the old one; a new model is of this code's version.
    for name, version in ((DEFAULT_NAME, 1), ("new.sqlite", VERSION)):
        store = SQLiteStore(tmp_path / name)
        assert store.version == version
        store.close()


async def test_the_rebuild_from_the_topic_gives_it_the_work_queue_and_the_same_portal(
    tmp_path: Path,
) -> None:
    settings = written_before_the_work_queue(tmp_path)
    old = PortalView(open_store(settings))

    rebuilt = await replay.rebuild(settings, source=TheTopic())

    assert current_name(settings) == rebuilt.name != DEFAULT_NAME
    new = PortalView(open_store(settings))
    try:
        assert new.store.version == VERSION
        assert new.action_points(OFFICE, DOSSIER) == old.action_points(OFFICE, DOSSIER)
        assert new.max_tracking_id(f"{topics.DOSSIERCONTROLE}:0") == 13
        lists = {
            kind: [(i["title"], i["since"]) for i in page(new, kind)]
            for kind in ("to_review", "overdue", "expiring")
        }
        assert lists == {
            "to_review": [("Identiteitsbewijs", "2026-01-06T09:00:00.000000+00:00")],
            "overdue": [("Loonstrook", "2026-01-12T09:00:00.000000+00:00")],
            "expiring": [("Werkgeversverklaring", "2026-04-07T09:00:00.000000+00:00")],
        }
    finally:
        old.close()
        new.close()


class NoKafka:
    """The consumer of a replica that switches models: at once, between no batches."""

    async def at_batch_boundary(self, change: Any) -> None:
        change()


def rebuilds_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models the portal rebuilds from ``TheTopic``, in order."""
    rebuilds: list[str] = []
    real = replay.rebuild

    async def counted(settings: Settings, *args: Any, **kwargs: Any) -> replay.Rebuilt:
        done = await real(settings, *args, **kwargs)
        rebuilds.append(done.name)
        return done

    monkeypatch.setattr(replay, "rebuild", counted)
    monkeypatch.setattr(replay, "TopicReader", lambda *args, **kwargs: TheTopic())
    return rebuilds


async def test_one_replica_rebuilds_an_older_model_and_every_replica_switches_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = written_before_the_work_queue(tmp_path)
    rebuilds = rebuilds_counted(monkeypatch)
    replicas = [PortalView(open_store(settings)) for _ in range(2)]
    leases = [replay.rebuild_lease(settings) for _ in range(2)]
    assert all(isinstance(lease, FileLease) for lease in leases)

    def upgrading(n: int) -> asyncio.Task[None]:
        upgrade = replay.upgrade_older_model(settings, replicas[n], leases[n], interval=0.01)
        return asyncio.create_task(upgrade)

    # The second replica holds the lease (it is rebuilding): the first waits.
    assert leases[1].acquire()
    first = upgrading(0)
    await asyncio.sleep(0.2)
    assert rebuilds == [] and current_name(settings) == DEFAULT_NAME
    leases[1].release()

    # Free again: the first replica rebuilds, once, and names the new model. The second finds a
    # newer model named already: it builds nothing, it switches.
    for _ in range(200):
        if rebuilds:
            break
        await asyncio.sleep(0.02)
    second = upgrading(1)
    await asyncio.sleep(0.2)
    for task in (first, second):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert rebuilds == [current_name(settings)]

    for view in replicas:
        assert await main.switch_to_served(settings, view, NoKafka())  # type: ignore[arg-type]
        assert view.store.version == VERSION
        assert page(view, "overdue")[0]["title"] == "Loonstrook"
        view.close()
