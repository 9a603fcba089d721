"""Writes tests/data/dossiercheck_store_v2.jsonl with the code of main at 2b0df08 (before the
domain model became a package, when ActionPointOpened and ActionPointReminderDue carried copies
of their document's facts): a dossier check's stored events and snapshot, the office's
settings, and what the outbox published for each event.

    git archive 2b0df08 | tar -x -C /tmp/old2
    PYTHONPATH=/tmp/old2 python tests/data/make_dossiercheck_store_v2.py /tmp/old2.sqlite \
        tests/data/dossiercheck_store_v2.jsonl

Not a test and not run by one: it only runs against that old code (its command names).
"""

import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from services.dossiercontrole_service.application import (
    ConfigureDocumentType,
    DocumentRequest,
    DossierChecks,
    RemindNow,
    Review,
    SetReminderSchedule,
    Upload,
)
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    action_point_id_for,
    document_id_for,
)

sys.path.insert(0, ".")
from tests.data.make_dossiercheck_store_v1 import dump

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(days=14)
OFFICE, DOSSIER = "kantoor-oud", "dossier-oud"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
PDF = {"sha256": "a" * 64, "size": 1000, "content_type": "application/pdf", "filename": "id.pdf"}
R = [UUID(int=i + 101) for i in range(10)]
HEADER = (
    "# A dossier-check store as main at 2b0df08 wrote it (ActionPointOpened and\n"
    "# ActionPointReminderDue carried copies of their document's facts), with what its outbox\n"
    "# published for each event. Made by make_dossiercheck_store_v2.py with the code of that\n"
    "# commit; do not edit by hand.\n"
)


def fill(app: Any) -> None:
    def request(request_id: UUID, kind: str, point: Any, due_at: Any = DUE) -> None:
        command = DocumentRequest(
            OFFICE, DOSSIER, request_id, MORTGAGE, kind, None, point, T0, None, "scenario", due_at
        )
        app.add_requested_document(command)

    app.configure_document_type(
        ConfigureDocumentType(OFFICE, "loonstrook", "Loonstrook", True, "admin:a", "P3M", True)
    )
    app.configure_document_type(
        ConfigureDocumentType(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin:a")
    )
    app.set_reminder_schedule(SetReminderSchedule(OFFICE, ["P3D"], True, "P7D", 5, "admin:a"))
    request(R[0], "identiteitsbewijs", None)  # A: the ID, due in 14 days
    request(R[1], "loonstrook", None)  # B: a payslip, valid for three months
    request(R[2], "finale_kwijting", None, None)  # C: no task (the type's setting)
    request(R[3], "finale_kwijting", True)  # merged into C: its task, with the later due date
    check_id = DossierCheck.create_id(OFFICE, DOSSIER)
    # Reminders: the schedule's (three days before), then the adviser's own.
    app.send_scheduled_reminder(check_id, action_point_id_for(R[0]), DUE - timedelta(days=3))
    app.remind_now(RemindNow(OFFICE, action_point_id_for(R[1]), "adviser:a-1", T0))
    app.mark_overdue(check_id, action_point_id_for(R[3]), DUE)
    # The ID is delivered and rejected; the payslip delivered, approved, and expires.
    app.upload(Upload(OFFICE, document_id_for(R[0]), PDF, "client:klant-1", T0))
    app.review(Review(OFFICE, document_id_for(R[0]), "reject", "Onleesbaar", "adviser:a-1", T0))
    app.upload(Upload(OFFICE, document_id_for(R[1]), PDF, "client:klant-1", T0))
    app.review(Review(OFFICE, document_id_for(R[1]), "approve", None, "adviser:a-1", T0))
    app.take_snapshot(check_id)
    app.expire_document(check_id, document_id_for(R[1]), T0 + timedelta(days=100))
    app.send_scheduled_reminder(check_id, action_point_id_for(R[0]), DUE + timedelta(days=8))


if __name__ == "__main__":
    import tests.data.make_dossiercheck_store_v1 as v1

    v1.HEADER = HEADER
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sys.argv[1]}
    checks = DossierChecks(env=env)
    fill(checks)
    dump(checks, sys.argv[2])
