"""Writes tests/data/dossiercheck_store_v4.jsonl with the code of main at 0f7e7ec (before personal
fields were sealed, SPEC section 11): the dossier check's stored events and snapshot, personal
fields (titles, instructions, filenames, a rejection reason, a client's note) in plain text, with
the exact bytes its outbox published for each event.

    git -C /work/main archive 0f7e7ec | tar -x -C /tmp/before-sealing
    PYTHONPATH=/tmp/before-sealing .venv/bin/python tests/data/make_store_before_sealing.py \
        tests/data

Not a test and not run by one: it only means something against that old code.
"""

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import make_stores_before_households as before  # type: ignore[import-not-found]

from services.dossiercontrole_service import kafka as dossier_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ClaimNotApplicable,
    DossierChecks,
    ReviewDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    action_point_id_for,
    document_id_for,
)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
OFFICE, DOSSIER = "kantoor-oud", "dossier-verzegeld"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
JAN = {**MORTGAGE, "person": {"role": "aanvrager"}}
PDF = {
    "sha256": "d" * 64,
    "size": 1000,
    "content_type": "application/pdf",
    "filename": "paspoort-jan-de-vries.pdf",
}
R = [UUID(int=i + 401) for i in range(10)]
HEADER = (
    "# A {name} store as main at 0f7e7ec wrote it (before sealing: personal fields in plain\n"
    "# text), with the bytes its outbox published for each event.\n"
    "# Made by make_store_before_sealing.py with the code of that commit; do not edit.\n"
)


def fill_checks(app: DossierChecks) -> None:
    def add(request_id: UUID, kind: str, title: str | None, **extra: object) -> None:
        app.add_requested_document(
            AddRequestedDocument(
                OFFICE, DOSSIER, request_id, JAN, kind, title, True, T0, None, "manual", **extra
            )
        )

    add(R[0], "identiteitsbewijs", "Paspoort Jan de Vries", instructions="Beide zijden, Jan")
    add(R[1], "loonstrook", "Loonstrook Jan", period="januari 2026")
    add(R[2], "werkgeversverklaring", "Werkgeversverklaring Bakkerij Jansen")
    passport = document_id_for(R[0])
    app.upload(UploadDocument(OFFICE, passport, PDF, "client:klant-1", T0 + timedelta(hours=1)))
    later = T0 + timedelta(hours=2)
    reason = "Jan, de achterkant ontbreekt"
    app.review(ReviewDocument(OFFICE, passport, "reject", reason, "adviser:a-1", later))
    app.take_snapshot(DossierCheck.create_id(OFFICE, DOSSIER))
    claim = ClaimNotApplicable(
        OFFICE,
        action_point_id_for(R[2]),
        "Jan is zelfstandige sinds maart",
        "client:klant-1",
        later,
    )
    app.claim_not_applicable(claim)
    second = {**PDF, "sha256": "e" * 64, "filename": "paspoort-jan-achterkant.pdf"}
    app.upload(UploadDocument(OFFICE, passport, second, "client:klant-1", later))


if __name__ == "__main__":
    out = Path(sys.argv[1])
    checks = DossierChecks(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    fill_checks(checks)
    before.HEADER = HEADER
    before.dump(
        checks,
        dossier_kafka.OUTBOX.translator,
        out / "dossiercheck_store_v4.jsonl",
        "dossier-check",
        DossierCheck.create_id(OFFICE, DOSSIER),
    )
