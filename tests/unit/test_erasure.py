"""Stories of erasure and retention (SPEC section 11), in process on a real blob folder: an admin
erases a closed dossier at once; the retention scheduler erases one when the office's period has
passed, once across replicas and after downtime; a file that another dossier also uses stays
until its last user is erased."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
    UploadDocument,
)
from services.dossiercontrole_service.blobstore import BlobStore
from services.dossiercontrole_service.data_keys import KeyErased
from services.dossiercontrole_service.domainmodel import (
    DEFAULT_RETENTION,
    DocumentNotFound,
    DossierIsOpen,
    DossierWasErased,
    Outcome,
    document_id_for,
)
from services.dossiercontrole_service.lifecycle import (
    CloseDossier,
    EraseDossier,
    ReopenDossier,
    SetRetentionPolicy,
)
from services.dossiercontrole_service.retention import (
    RETENTION_ACTOR,
    Erasure,
    RetentionScheduler,
)
from shared.events import topics
from tests.unit.kafka_edge import MORTGAGE, NOW, OFFICE, Outbox

ADMIN = "admin:beheer"
ADVISER = "adviser:a1"
SHARED = b"%PDF-1.4 the same payslip, uploaded into two dossiers\n%%EOF\n"
OWN = b"%PDF-1.4 an ID card of one client only\n%%EOF\n"


def deliver(checks: DossierChecks, blobs: BlobStore, dossier: str, content: bytes) -> UUID:
    """A document requested in ``dossier`` and a file delivered for it; its document id."""
    request_id = uuid4()
    checks.add_requested_document(
        AddRequestedDocument(OFFICE, dossier, request_id, MORTGAGE, "loonstrook", None, True, NOW)
    )
    sha256 = blobs.put(content)
    file = {"sha256": sha256, "size": len(content), "content_type": "application/pdf"}
    document_id = document_id_for(request_id)
    checks.upload(UploadDocument(OFFICE, document_id, {**file, "filename": "x.pdf"}, ADVISER, NOW))
    return document_id


def close(checks: DossierChecks, dossier: str, outcome: Outcome, at: datetime = NOW) -> None:
    checks.close_dossier(CloseDossier(OFFICE, dossier, outcome, ADVISER, at))


def erasure_of(checks: DossierChecks, tmp_path: Path) -> Erasure:
    """The erasure over a real blob folder (and the store's own keys)."""
    return Erasure(checks, BlobStore(tmp_path / "blobs"))


def stored(blobs: BlobStore, content: bytes) -> bool:
    return blobs.path_of(hashlib.sha256(content).hexdigest()).exists()


def test_an_admin_erases_a_closed_dossier_and_a_shared_file_stays_for_its_other_user(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    blobs = erasure.blobs
    assert isinstance(blobs, BlobStore)
    outbox = Outbox(checks, topics.DOSSIERCONTROLE, dossiercontrole_kafka.OUTBOX.translator(checks))
    # Two dossiers hold the same payslip; the first also holds an ID card.
    first = deliver(checks, blobs, "dossier-a", SHARED)
    deliver(checks, blobs, "dossier-a", OWN)
    deliver(checks, blobs, "dossier-b", SHARED)
    outbox.new()

    # An open dossier cannot be erased.
    with pytest.raises(DossierIsOpen, match="is not closed"):
        erasure.erase(EraseDossier(OFFICE, "dossier-a", ADMIN, NOW))

    # The application was declined: the adviser closes it, the admin erases it at once.
    close(checks, "dossier-a", Outcome.DECLINED)
    key = erasure.keys.key_for(OFFICE, "dossier-a")
    assert erasure.keys.get(OFFICE, "dossier-a") == key
    erased = erasure.erase(EraseDossier(OFFICE, "dossier-a", ADMIN, NOW))
    assert erased.erased_at == NOW
    published = [e for e in outbox.new() if e.type == "DossierErased"]
    assert [(e.dossierid, e.data.erased_by) for e in published] == [("dossier-a", ADMIN)]

    # Its key is gone for good (410 on HTTP) ...
    with pytest.raises(KeyErased):
        erasure.keys.get(OFFICE, "dossier-a")
    # ... and its own file; the payslip stays, since dossier B still uses it.
    assert not stored(blobs, OWN) and stored(blobs, SHARED)
    with pytest.raises(DocumentNotFound):
        checks.get_document(OFFICE, first)
    assert checks.get_dossier_check(OFFICE, "dossier-a").current_documents() == []

    # Nothing brings it back, and it is not erased twice.
    with pytest.raises(DossierWasErased, match="was erased at"):
        checks.reopen_dossier(ReopenDossier(OFFICE, "dossier-a", ADVISER, NOW))
    with pytest.raises(DossierWasErased):
        erasure.erase(EraseDossier(OFFICE, "dossier-a", ADMIN, NOW))

    # Once dossier B is erased too, the payslip's last user is gone, and so is the file.
    close(checks, "dossier-b", Outcome.COMPLETED)
    erasure.erase(EraseDossier(OFFICE, "dossier-b", ADMIN, NOW))
    assert not stored(blobs, SHARED)


def test_the_retention_scheduler_erases_once_when_the_period_has_passed(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    blobs = erasure.blobs
    assert isinstance(blobs, BlobStore)
    # The office keeps a declined dossier ten seconds, a withdrawn one a day.
    periods = {"completed": "P5Y", "withdrawn": "P1D", "declined": "PT10S"}
    checks.set_retention_policy(SetRetentionPolicy(OFFICE, periods, ADMIN))
    assert checks.get_retention_policy("other-office").periods == DEFAULT_RETENTION
    deliver(checks, blobs, "declined-1", OWN)
    close(checks, "declined-1", Outcome.DECLINED)
    deliver(checks, blobs, "withdrawn-1", SHARED)
    close(checks, "withdrawn-1", Outcome.WITHDRAWN)

    # Two replicas tick; before the period passes nothing happens.
    replicas = [RetentionScheduler(checks, erasure), RetentionScheduler(checks, erasure)]
    assert [r.run_due(NOW + timedelta(seconds=9)) for r in replicas] == [0, 0]
    # Past it, one of them erases the declined dossier; the other finds nothing left to do.
    later = NOW + timedelta(seconds=11)
    assert sum(r.run_due(later) for r in replicas) == 1
    declined = checks.get_dossier_check(OFFICE, "declined-1")
    assert declined.erased_at == later and not stored(blobs, OWN)
    withdrawn = checks.get_dossier_check(OFFICE, "withdrawn-1")
    assert withdrawn.erased_at is None

    # Down for two days: a scheduler that starts afterwards catches up from the log.
    restarted = RetentionScheduler(checks, erasure)
    assert restarted.run_due(NOW + timedelta(days=2)) == 1
    assert checks.get_dossier_check(OFFICE, "withdrawn-1").erased_at is not None
    assert not stored(blobs, SHARED)


def test_a_policy_change_moves_the_erasure_of_closed_dossiers(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    blobs = erasure.blobs
    assert isinstance(blobs, BlobStore)
    deliver(checks, blobs, "completed-1", OWN)
    close(checks, "completed-1", Outcome.COMPLETED)
    scheduler = RetentionScheduler(checks, erasure)
    assert scheduler.run_due(NOW + timedelta(days=30)) == 0  # five years by default
    periods = {"completed": "P7D", "withdrawn": "P1Y", "declined": "P30D"}
    checks.set_retention_policy(SetRetentionPolicy(OFFICE, periods, ADMIN))
    assert scheduler.run_due(NOW + timedelta(days=8)) == 1
    erased = checks.get_dossier_check(OFFICE, "completed-1")
    assert erased.erased_at is not None
    # Reopening before the moment calls it off: a reopened dossier is kept.
    deliver(checks, blobs, "reopened-1", SHARED)
    close(checks, "reopened-1", Outcome.COMPLETED, NOW + timedelta(days=8))
    checks.reopen_dossier(ReopenDossier(OFFICE, "reopened-1", ADVISER, NOW + timedelta(days=9)))
    assert scheduler.run_due(NOW + timedelta(days=30)) == 0
    assert checks.get_dossier_check(OFFICE, "reopened-1").erased_at is None
    assert RETENTION_ACTOR == "retention-policy"


def test_a_store_with_uploads_from_before_file_users_deletes_no_file_at_erasure(
    tmp_path: Path,
) -> None:
    from tests.unit.test_old_dossier_check_stores import DOSSIER as OLD_DOSSIER
    from tests.unit.test_old_dossier_check_stores import OFFICE as OLD_OFFICE
    from tests.unit.test_old_dossier_check_stores import STORE_V2, restored

    # A store written by an earlier main: its uploads recorded no users of their files, so a
    # file's other users are unknown.
    checks = restored(tmp_path / "old.sqlite", with_snapshot=False, store=STORE_V2)
    try:
        erasure = erasure_of(checks, tmp_path)
        blobs = erasure.blobs
        assert isinstance(blobs, BlobStore)
        # A new upload of the same bytes into a new dossier, then that dossier is erased.
        sha256 = blobs.put(SHARED)
        deliver(checks, blobs, "dossier-nieuw", SHARED)
        close(checks, "dossier-nieuw", Outcome.DECLINED)
        erasure.erase(EraseDossier(OFFICE, "dossier-nieuw", ADMIN, NOW))
        # The file stays (an old dossier might hold it too); the old dossier is untouched.
        assert checks.has_unindexed_uploads() and blobs.path_of(sha256).exists()
        assert checks.get_dossier_check(OLD_OFFICE, OLD_DOSSIER).current_documents()
    finally:
        checks.close()


def test_a_fresh_store_knows_every_user_of_its_files(checks: DossierChecks, tmp_path: Path) -> None:
    erasure = erasure_of(checks, tmp_path)
    blobs = erasure.blobs
    assert isinstance(blobs, BlobStore)
    deliver(checks, blobs, "dossier-1", OWN)
    assert not checks.has_unindexed_uploads()


def test_every_file_of_a_version_of_several_is_erased(
    checks: DossierChecks, tmp_path: Path
) -> None:
    erasure = erasure_of(checks, tmp_path)
    blobs = erasure.blobs
    assert isinstance(blobs, BlobStore)
    front, back, later = (b"%PDF-1.4 front\n", b"%PDF-1.4 back\n", b"%PDF-1.4 appended\n")
    document_id = deliver(checks, blobs, "dossier-id", OWN)

    def part(content: bytes) -> dict[str, object]:
        sha256 = blobs.put(content)
        return {"sha256": sha256, "size": len(content), "content_type": "application/pdf"}

    # Both sides of an ID card as one version, then a third file appended to it.
    both = UploadDocument(
        OFFICE,
        document_id,
        {**part(front), "filename": "voor.pdf"},
        ADVISER,
        NOW,
        more_files=({**part(back), "filename": "achter.pdf"},),
    )
    checks.upload(both)
    appended = UploadDocument(
        OFFICE, document_id, {**part(later), "filename": "bijlage.pdf"}, ADVISER, NOW, append=True
    )
    checks.upload(appended)
    close(checks, "dossier-id", Outcome.WITHDRAWN)
    erasure.erase(EraseDossier(OFFICE, "dossier-id", ADMIN, NOW))
    assert not any(stored(blobs, content) for content in (OWN, front, back, later))
