"""A dossier with many documents loads from its latest snapshot, with the same state."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import Tracking

from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.dossiercontrole_service.domainmodel import DocumentStatus, DossierCheck

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
            AddRequestedDocument(
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


def test_the_copy_a_caller_gets_of_a_cached_dossier_check_is_its_own() -> None:
    # The repository hands each caller a deep copy of the cached dossier check; its containers
    # are copied and the frozen documents in them shared.
    check = DossierCheck(OFFICE, DOSSIER)
    mortgage = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
    first = check.request_document(uuid4(), mortgage, "loonstrook", "Loonstrook", True, NOW)
    copied = copy.deepcopy(check)
    assert (copied.id, copied.version) == (check.id, check.version)
    assert copied.documents == check.documents
    assert copied.handled_requests == check.handled_requests

    # A command on the copy changes the copy only.
    copied.request_document(uuid4(), mortgage, "paspoort", "Paspoort", True, NOW)
    pdf = {"sha256": "a" * 64, "size": 100, "content_type": "application/pdf", "filename": "l.pdf"}
    copied.upload(first.document_id, pdf, "klant-1", NOW)
    assert len(check.documents) == 1 and len(copied.documents) == 2
    assert len(check.handled_requests) == 1 and len(copied.handled_requests) == 2
    assert check.document(first.document_id).status == DocumentStatus.REQUESTED
    assert copied.document(first.document_id).status == DocumentStatus.UPLOADED
    assert len(check.collect_events()) == 2  # opened, requested: none of the copy's
