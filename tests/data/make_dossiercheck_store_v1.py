"""Writes tests/data/dossiercheck_store_v1.jsonl with the code of main at 7c11997 (before typed
state): a dossier check's stored events and snapshot, and what its outbox published for each.

    git archive 7c11997 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/make_dossiercheck_store_v1.py /tmp/old.sqlite \
        tests/data/dossiercheck_store_v1.jsonl

Not a test and not run by one: it only runs against that old code (its positional commands).
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    action_point_id_for,
    document_id_for,
)
from shared.events.codec import encode

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OFFICE, DOSSIER = "kantoor-oud", "dossier-oud"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
LIFE = {"type": "product", "id": "lv-1", "scope": "levensverzekering"}
PDF = {"sha256": "a" * 64, "size": 1000, "content_type": "application/pdf", "filename": "id.pdf"}
R = [UUID(int=i + 1) for i in range(10)]
HEADER = (
    "# A dossier-check store as main at 7c11997 wrote it (events carried tenant and dossier_id,\n"
    "# snapshots kept documents as dicts), with what its outbox published for each event.\n"
    "# Made by make_dossiercheck_store_v1.py with the code of that commit; do not edit by hand.\n"
)


def fill(app: Any) -> None:
    def add(request_id: UUID, subject: dict[str, str], kind: str, point: Any, at: Any) -> None:
        app.add_requested_document(OFFICE, DOSSIER, request_id, subject, kind, None, point, at)

    app.configure_document_type(OFFICE, "finale_kwijting", "Finale kwijting", False, "admin-1")
    add(R[0], MORTGAGE, "identiteitsbewijs", None, T0)  # A: document + open task
    add(R[1], LIFE, "identiteitsbewijs", None, T0)  # B: document + open task
    add(R[2], MORTGAGE, "finale_kwijting", None, T0)  # C: no task (the type's setting)
    add(R[3], MORTGAGE, "identiteitsbewijs", None, T0)  # merged into A
    add(R[4], MORTGAGE, "finale_kwijting", True, T0 + timedelta(minutes=1))  # C's task
    add(R[5], MORTGAGE, "loonstrook", None, T0)  # D: its task goes (way 2b)
    add(R[6], MORTGAGE, "werkgeversverklaring", None, T0)  # E: removed (way 2a)
    app.upload(OFFICE, document_id_for(R[0]), PDF, "client:klant-1", T0 + timedelta(hours=1))
    app.take_snapshot(DossierCheck.create_id(OFFICE, DOSSIER))
    later = T0 + timedelta(hours=2)
    app.copy(OFFICE, document_id_for(R[1]), document_id_for(R[0]), "adviser:a-1", later)
    app.remove_action_point(OFFICE, action_point_id_for(R[5]), "adviser:a-1", later)
    app.remove_document(OFFICE, document_id_for(R[6]), "adviser:a-1", later)
    second = {**PDF, "sha256": "b" * 64, "filename": "id-2.pdf"}
    app.upload(OFFICE, document_id_for(R[0]), second, "adviser:a-1", later)


def dump(app: Any, path: str) -> None:
    translate = kafka.OUTBOX.translator(app)
    lines = [HEADER]
    for n in app.recorder.select_notifications(1, 1000):
        event = app.mapper.to_domain_event(n)
        published = [json.loads(encode(e)) for e in translate(event)]
        record = {"kind": "event", "published": published}
        lines.append(json.dumps({**record, **stored(n)}) + "\n")
    for snapshot in app.snapshots.recorder.select_events(DossierCheck.create_id(OFFICE, DOSSIER)):
        lines.append(json.dumps({"kind": "snapshot", **stored(snapshot)}) + "\n")
    with open(path, "w") as out:
        out.writelines(lines)


def stored(item: Any) -> dict[str, Any]:
    return {
        "originator_id": str(item.originator_id),
        "originator_version": item.originator_version,
        "topic": item.topic,
        "state": item.state.decode(),
    }


if __name__ == "__main__":
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sys.argv[1]}
    checks = DossierChecks(env=env)
    fill(checks)
    dump(checks, sys.argv[2])
