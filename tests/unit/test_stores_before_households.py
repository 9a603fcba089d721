"""Stores written by main before households (SPEC section 9) still load, republish byte for byte
what they published, and take the new commands.

`tests/data/scenario_store_v1.jsonl` and `tests/data/dossiercheck_store_v3.jsonl` are what the
code of main at 31b82df stored and published (made by `make_stores_before_households.py`): runs
executed without a household (``ScenarioRun.Executed`` class version 1), manual requests without
period or instructions (``DocumentRequest.Requested`` 1), documents without them
(``DocumentAdded`` 4).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from eventsourcing.persistence import StoredEvent

from servicekit.crypto import is_sealed
from servicekit.domain import Subject
from servicekit.dossier_keys import MemoryKeySource
from servicekit.eventstore import TrackedApplication
from servicekit.sealing import open_published, published_context
from services.dossiercontrole_service import kafka as dossier_kafka
from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import (
    DefineScenario,
    Scenarios,
    SetHousehold,
    StartScenarios,
)
from shared.events.codec import encode
from shared.events.personal import personal_values

DATA = Path(__file__).parent.parent / "data"
SCENARIO_STORE = DATA / "scenario_store_v1.jsonl"
CHECK_STORE = DATA / "dossiercheck_store_v3.jsonl"
OFFICE, DOSSIER = "kantoor-oud", "dossier-oud"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def stored(store: Path, kind: str) -> list[dict[str, Any]]:
    lines = store.read_text().splitlines()
    records = [json.loads(line) for line in lines if line and not line.startswith("#")]
    return [record for record in records if record["kind"] == kind]


def _stored_event(record: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=record["state"].encode(),
    )


def restored(cls: Callable[..., Any], store: Path, path: Path, *, snapshots: bool) -> Any:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    # The scenario service's keys are the dossier check's: in memory here.
    app = cls(env=env, key_source=MemoryKeySource()) if cls is Scenarios else cls(env=env)
    app.recorder.insert_events([_stored_event(r) for r in stored(store, "event")])
    if snapshots and app.snapshots is not None:
        app.snapshots.recorder.insert_events([_stored_event(r) for r in stored(store, "snapshot")])
    return app


@pytest.mark.parametrize(
    ("cls", "store", "translator"),
    [
        (Scenarios, SCENARIO_STORE, scenario_kafka.OUTBOX.translator),
        (DossierChecks, CHECK_STORE, dossier_kafka.OUTBOX.translator),
    ],
    ids=["scenario", "dossier check"],
)
def test_an_old_store_republishes_exactly_the_bytes_it_published(
    tmp_path: Path, cls: Any, store: Path, translator: Any
) -> None:
    app: TrackedApplication = restored(cls, store, tmp_path / "old.sqlite", snapshots=True)
    translate = translator(app)
    records = stored(store, "event")
    notifications = app.recorder.select_notifications(1, len(records))

    for record, notification in zip(records, notifications, strict=True):
        event = app.mapper.to_domain_event(notification)
        now = [encode(_opened(app, e)).decode() for e in translate(event)]
        assert now == record["published"], notification.topic
    app.close()


def _opened(app: TrackedApplication, event: Any) -> Any:
    """What was published then: the personal fields are sealed now (since the scenario service
    seals them), and open to the same text."""
    if not isinstance(app, Scenarios) or event.dossierid is None:
        return event
    key = app.keys.published_key(event.tenantid, event.dossierid)
    sealed = [v for v in personal_values(event) if v]
    assert all(is_sealed(v) for v in sealed), sealed
    return open_published(event, key, published_context(event.tenantid, event.dossierid))


def test_an_old_scenario_store_reads_its_runs_and_takes_household_runs(tmp_path: Path) -> None:
    app: Scenarios = restored(Scenarios, SCENARIO_STORE, tmp_path / "old.sqlite", snapshots=False)
    runs = [
        app.repository.get(UUID(r["originator_id"]))
        for r in stored(SCENARIO_STORE, "event")
        if r["topic"].endswith("ScenarioRun.Executed")
    ]
    # Executed before households: none was asked, one request per item as then.
    assert runs and all(run.household is None for run in runs)
    assert all(len(run.request_ids) == len(run.items) for run in runs)

    # The office goes on: a household and a per-person scenario on the same store.
    app.set_household(
        SetHousehold(
            OFFICE,
            DOSSIER,
            [{"role": "aanvrager", "name": "A"}, {"role": "partner", "name": "P"}],
            "adviser:a-1",
        )
    )
    item = {"document_type": "loonstrook", "per_person": True, "periods": ["2024", "2025"]}
    scenario_id = app.define_scenario(
        DefineScenario(OFFICE, "Inkomen", "hypotheek", [item], None, "admin:a")
    )
    start = StartScenarios(OFFICE, DOSSIER, Subject.of(MORTGAGE), [scenario_id], "adviser:a-1")
    (run,) = app.start_scenarios(start, NOW)
    assert len(run.request_ids) == 4
    app.close()


@pytest.mark.parametrize("snapshots", [True, False], ids=["from its snapshot", "from events"])
def test_an_old_dossier_check_keeps_its_documents_apart_by_period_from_now_on(
    tmp_path: Path, snapshots: bool
) -> None:
    app: DossierChecks = restored(
        DossierChecks, CHECK_STORE, tmp_path / "o.sqlite", snapshots=snapshots
    )
    check = app.get_dossier_check(OFFICE, DOSSIER)
    assert all((d.period, d.instructions) == (None, None) for d in check.documents.values())
    assert all(d.subject.person is None for d in check.documents.values())

    def ask(kind: str, period: str | None) -> UUID | None:
        request_id = uuid5(NAMESPACE_URL, f"{kind}:{period}")
        return app.add_requested_document(
            AddRequestedDocument(
                OFFICE, DOSSIER, request_id, MORTGAGE, kind, None, None, NOW, period=period
            )
        )

    # The open valuation report of then takes a request without a period ...
    assert ask("taxatierapport", None) is None
    # ... and a request for one period is a document of its own.
    assert ask("taxatierapport", "2026") is not None
    app.close()
