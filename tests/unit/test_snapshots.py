"""A dossier with many documents loads from its latest snapshot, with the same state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import Tracking

from services.dossiercontrole_service.application import DocumentRequest, DossierChecks
from services.dossiercontrole_service.domainmodel import DossierCheck

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
OFFICE = "kantoor-utrecht"
DOSSIER = "dossier-groot"


def open_store(path: Path) -> DossierChecks:
    return DossierChecks(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )


def test_a_long_dossier_is_snapshotted_and_a_fresh_process_loads_the_same_dossier(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dossiercontrole.sqlite"
    checks = open_store(path)
    # 250 requests arrive in batches of 50, each one transaction with its position.
    for batch in range(5):
        requests = [
            DocumentRequest(
                OFFICE,
                DOSSIER,
                uuid4(),
                {"type": "product", "id": f"product-{batch}-{index}", "scope": "hypotheek"},
                "loonstrook",
                None,
                None,
                NOW,
            )
            for index in range(50)
        ]
        checks.add_requested_documents(requests, Tracking("actiepunten.scenario.v1:0", batch + 1))
    expected = checks.get_dossier_check(OFFICE, DOSSIER)
    checks.close()

    # A restarted service (nothing cached) loads the dossier from a snapshot, not from event 1.
    fresh = open_store(path)
    try:
        dossier_id = DossierCheck.create_id(OFFICE, DOSSIER)
        assert fresh.snapshots is not None
        snapshots = list(fresh.snapshots.get(dossier_id, desc=True, limit=1))
        assert snapshots and snapshots[0].originator_version >= 200
        loaded = fresh.get_dossier_check(OFFICE, DOSSIER)
        assert loaded.version == expected.version
        assert loaded.documents == expected.documents
        assert loaded.handled_requests == expected.handled_requests
        assert len(loaded.current_documents()) == 250
    finally:
        fresh.close()
