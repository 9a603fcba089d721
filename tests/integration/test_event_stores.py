"""The event store as the services open it (``Settings.eventstore_env``), on SQLite and on
PostgreSQL, where a save's events go in as four binary arrays (``servicekit.postgres_store``):
what a save stored reads back the same (events, snapshot, notification ids), and what the
process kept of it (``JustSaved``, for the relay and the timetables) is what the store gives."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from servicekit.postgres_store import ArrayAggregateRecorder, ArrayProcessRecorder
from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.dossiercontrole_service.data_keys import data_keys
from services.dossiercontrole_service.domainmodel import DossierCheck
from tests.conftest import store_params
from tests.integration.test_shared_blobs import store_config
from tests.unit import test_sealing
from tests.unit.test_just_saved import assert_kept_as_stored

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


@pytest.mark.parametrize("persistence", store_params())
def test_what_a_save_stored_reads_back_the_same_and_is_kept_as_stored(
    persistence: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    config = store_config(persistence, request, tmp_path)
    checks = DossierChecks(env=config.eventstore_env("dossiercontrole"), keys=data_keys(config))
    if persistence == "postgres":
        assert isinstance(checks.recorder, ArrayProcessRecorder)
        assert checks.snapshots is not None
        assert isinstance(checks.snapshots.recorder, ArrayAggregateRecorder)
    with TracerProvider().get_tracer("test").start_as_current_span("POST /dossier-requests"):
        test_sealing.fill(checks)  # sealed texts and a snapshot, saved one command at a time
    batch = [
        AddRequestedDocument(
            "kantoor-groot", f"dossier-{i % 40}", uuid.uuid4(), MORTGAGE, "loonstrook",
            f"Loonstrook {i} van Jan \u00e9\u00e9n \"quote\"", True, NOW, period=f"maand {i}",
        )
        for i in range(300)
    ]  # fmt: skip
    checks.add_requested_documents(batch)  # 40 dossier checks and their locators: one save
    assert_kept_as_stored(checks, at_least=900)  # of ~1,240: JustSaved keeps 1,000
    stored = checks.recorder.select_notifications(1, 10_000)
    assert [n.id for n in stored] == list(range(stored[0].id, stored[0].id + len(stored)))

    again = DossierChecks(env=config.eventstore_env("dossiercontrole"), keys=data_keys(config))
    assert test_sealing.titles(again) == test_sealing.titles(checks)
    big = again.repository.get(DossierCheck.create_id("kantoor-groot", "dossier-7"))
    assert {document.title for document in big.documents.values()} == {
        f'Loonstrook {i} van Jan \u00e9\u00e9n "quote"' for i in range(7, 300, 40)
    }
    checks.close()
    again.close()
