"""Writes tests/data/scenario_store_v1.jsonl and tests/data/dossiercheck_store_v3.jsonl with the
code of main at 31b82df (before households, SPEC section 9): each service's stored events (and
the dossier check's snapshot), with the exact bytes its outbox published for each event.

    git -C /work/main archive 31b82df | tar -x -C /tmp/before-households
    PYTHONPATH=/tmp/before-households .venv/bin/python tests/data/make_stores_before_households.py \
        tests/data

Not a test and not run by one: it only means something against that old code.
"""

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from services.dossiercontrole_service import kafka as dossier_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    DossierChecks,
    ReviewDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import DossierCheck, document_id_for
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import (
    DefineScenario,
    ReceiveDocumentList,
    RequestDocument,
    Scenarios,
    StartScenarios,
    StartTriggered,
)
from services.scenario_service.domainmodel import Subject
from shared.events.codec import encode

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OFFICE, DOSSIER = "kantoor-oud", "dossier-oud"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
APPOINTMENT = {"type": "appointment", "id": "afspraak-1", "scope": "afspraak"}
ID_CARD = {"document_type": "identiteitsbewijs", "title": None, "action_point": None}
PAYSLIP = {"document_type": "loonstrook", "title": "Loonstrook", "action_point": True}
PAYSLIP_DUE = {**PAYSLIP, "due_in": "P14D"}
PDF = {"sha256": "a" * 64, "size": 1000, "content_type": "application/pdf", "filename": "id.pdf"}
R = [UUID(int=i + 301) for i in range(10)]
HEADER = (
    "# A {name} store as main at 31b82df wrote it (before households: no person, period or\n"
    "# instructions), with the bytes its outbox published for each event.\n"
    "# Made by make_stores_before_households.py with the code of that commit; do not edit.\n"
)


def fill_scenarios(app: Scenarios) -> None:
    first = app.define_scenario(
        DefineScenario(OFFICE, "Hypotheek", "hypotheek", [ID_CARD, PAYSLIP_DUE], None, "admin:a")
    )
    app.define_scenario(
        DefineScenario(
            OFFICE, "Nieuw", "hypotheek", [PAYSLIP], {"event": "product_created"}, "admin:a"
        )
    )
    app.define_scenario(
        DefineScenario(
            OFFICE,
            "Gesprek",
            "afspraak",
            [ID_CARD],
            {"event": "appointment_scheduled", "offset_days": -3},
            "admin:a",
        )
    )
    mortgage = Subject.of(MORTGAGE)
    now = StartScenarios(OFFICE, DOSSIER, mortgage, [first], "adviser:a-1")
    app.start_scenarios(now, T0)
    later = StartScenarios(
        OFFICE, DOSSIER, mortgage, [first], "adviser:a-1", execute_at=T0 + timedelta(days=2)
    )
    (scheduled,) = app.start_scenarios(later, T0)
    (cancelled,) = app.start_scenarios(later, T0)
    app.cancel_run(OFFICE, cancelled.id)
    app.execute_run(scheduled.id, T0 + timedelta(days=2))
    app.request_document(
        RequestDocument(OFFICE, DOSSIER, mortgage, "taxatierapport", "Taxatie", None, "adviser:a-1")
    )
    app.request_document(
        RequestDocument(
            OFFICE, DOSSIER, mortgage, "loonstrook", None, True, "adviser:a-1", T0 + timedelta(7)
        )
    )
    items = [ID_CARD, {**PAYSLIP, "title": "Loonstrook december"}]
    app.receive_document_list(
        ReceiveDocumentList(OFFICE, DOSSIER, mortgage, "lijst-1", items, "platform/bank")
    )
    app.start_triggered(
        StartTriggered(OFFICE, DOSSIER, mortgage, "product_created", cause=str(R[0])), T0, None
    )
    appointment = Subject.of(APPOINTMENT)
    starts_at = T0 + timedelta(days=10)
    cause = str(R[1])
    scheduled_by = StartTriggered(
        OFFICE, DOSSIER, appointment, "appointment_scheduled", cause, starts_at
    )
    app.start_triggered(scheduled_by, T0, None)
    app.reschedule_appointment(OFFICE, "afspraak-1", starts_at + timedelta(days=1), T0, None)


def fill_checks(app: DossierChecks) -> None:
    def add(request_id: UUID, kind: str, due_at: datetime | None = None) -> None:
        app.add_requested_document(
            AddRequestedDocument(
                OFFICE,
                DOSSIER,
                request_id,
                MORTGAGE,
                kind,
                None,
                None,
                T0,
                None,
                "scenario",
                due_at,
            )
        )

    add(R[0], "identiteitsbewijs")
    add(R[1], "loonstrook", T0 + timedelta(days=14))
    add(R[2], "identiteitsbewijs")  # merged into the first
    add(R[3], "taxatierapport")
    passport = document_id_for(R[0])
    app.upload(UploadDocument(OFFICE, passport, PDF, "client:klant-1", T0 + timedelta(hours=1)))
    app.take_snapshot(DossierCheck.create_id(OFFICE, DOSSIER))
    later = T0 + timedelta(hours=2)
    app.review(ReviewDocument(OFFICE, passport, "reject", "Onleesbaar", "adviser:a-1", later))
    second = {**PDF, "sha256": "b" * 64, "filename": "id-2.pdf"}
    app.upload(UploadDocument(OFFICE, passport, second, "client:klant-1", later))
    app.review(ReviewDocument(OFFICE, passport, "approve", None, "adviser:a-1", later))


def dump(app: Any, translator: Any, path: Path, name: str, snapshots: UUID | None) -> None:
    translate = translator(app)
    lines = [HEADER.format(name=name)]
    for n in app.recorder.select_notifications(1, 1000):
        event = app.mapper.to_domain_event(n)
        published = [encode(e).decode() for e in translate(event)]
        lines.append(json.dumps({"kind": "event", "published": published, **stored(n)}) + "\n")
    if snapshots is not None:
        for snapshot in app.snapshots.recorder.select_events(snapshots):
            lines.append(json.dumps({"kind": "snapshot", **stored(snapshot)}) + "\n")
    path.write_text("".join(lines))


def stored(item: Any) -> dict[str, Any]:
    return {
        "originator_id": str(item.originator_id),
        "originator_version": item.originator_version,
        "topic": item.topic,
        "state": item.state.decode(),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    scenarios = Scenarios(env=env)
    fill_scenarios(scenarios)
    dump(
        scenarios,
        scenario_kafka.OUTBOX.translator,
        out / "scenario_store_v1.jsonl",
        "scenario",
        None,
    )
    checks = DossierChecks(env=env)
    fill_checks(checks)
    snapshot_of = DossierCheck.create_id(OFFICE, DOSSIER)
    dump(
        checks,
        dossier_kafka.OUTBOX.translator,
        out / "dossiercheck_store_v3.jsonl",
        "dossier-check",
        snapshot_of,
    )
