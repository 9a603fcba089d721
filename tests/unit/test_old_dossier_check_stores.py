"""Story: a dossier check stored before its state was typed loads, publishes and works as before.

`tests/data/dossiercheck_store_v1.jsonl` is a store that the code of main at 7c11997 wrote: its
events carried the office and the dossier for the outbox, its snapshot kept documents as dicts,
and beside each event is what its outbox published. An office upgrading the service keeps that
store: the dossier check must read the same, publish the same, and take new commands.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import (
    DossierChecks,
    RemoveDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    ActionPointStatus,
    DocumentHasUpload,
    DocumentStatus,
    DossierCheck,
    action_point_id_for,
    document_id_for,
)
from shared.events import topics
from shared.events.codec import decode, encode

STORE_V1 = Path(__file__).parent.parent / "data" / "dossiercheck_store_v1.jsonl"
# Written by main at 2b0df08, before the domain model became a package: reminders and merged
# action points carried copies of their document's facts, and topics named the old module.
STORE_V2 = Path(__file__).parent.parent / "data" / "dossiercheck_store_v2.jsonl"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OFFICE, DOSSIER = "kantoor-oud", "dossier-oud"
# The requests the old store holds, by what became of them.
ID_ON_MORTGAGE, ID_ON_LIFE, DISCHARGE, _MERGED, DISCHARGE_TASK, PAYSLIP, EMPLOYER = (
    UUID(int=i + 1) for i in range(7)
)
CREATIONS = {
    "DossierCheck.Opened",
    "DocumentTypes.Opened",
    "Locator.Placed",
    "ReminderSchedule.Opened",
}
PDF = {"sha256": "c" * 64, "size": 2000, "content_type": "application/pdf", "filename": "k.pdf"}


def stored(kind: str, store: Path = STORE_V1) -> list[dict[str, Any]]:
    lines = store.read_text().splitlines()
    records = [json.loads(line) for line in lines if line and not line.startswith("#")]
    return [record for record in records if record["kind"] == kind]


def as_stored_event(record: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(record["originator_id"]),
        originator_version=record["originator_version"],
        topic=record["topic"],
        state=record["state"].encode(),
    )


def restored(path: Path, *, with_snapshot: bool, store: Path = STORE_V1) -> DossierChecks:
    """The old store, as the upgraded service opens it."""
    app = DossierChecks(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    if not app.recorder.max_notification_id():
        app.recorder.insert_events([as_stored_event(r) for r in stored("event", store)])
        if with_snapshot:
            assert app.snapshots is not None
            snapshots = stored("snapshot", store)
            app.snapshots.recorder.insert_events([as_stored_event(r) for r in snapshots])
    return app


@pytest.mark.parametrize("with_snapshot", [True, False], ids=["from its snapshot", "from events"])
def test_an_old_dossier_check_reads_as_it_was_left(tmp_path: Path, with_snapshot: bool) -> None:
    app = restored(tmp_path / "old.sqlite", with_snapshot=with_snapshot)
    check = app.get_dossier_check(OFFICE, DOSSIER)

    documents = {d.request_id: d for d in check.documents.values()}
    # The passport for the mortgage: uploaded twice, its task completed by the first upload.
    passport = documents[ID_ON_MORTGAGE]
    assert passport.status is DocumentStatus.UPLOADED
    assert [(f.version, f.filename) for f in passport.files] == [(1, "id.pdf"), (2, "id-2.pdf")]
    assert passport.action_point is not None
    assert passport.action_point.status is ActionPointStatus.COMPLETED
    assert passport.action_point.completed_at == T0 + timedelta(hours=1)
    # The adviser copied it for the life insurance.
    copied = documents[ID_ON_LIFE]
    assert copied.status is DocumentStatus.UPLOADED
    assert copied.files[-1].copied_from == passport.document_id
    # The discharge had no task until a later request opened one.
    discharge = documents[DISCHARGE]
    assert discharge.action_point is not None
    assert discharge.action_point.action_point_id == action_point_id_for(DISCHARGE_TASK)
    assert discharge.action_point.status is ActionPointStatus.OPEN
    # The adviser removed the payslip's task only, and the employer's statement altogether.
    assert documents[PAYSLIP].action_point is not None
    assert documents[PAYSLIP].action_point.status is ActionPointStatus.REMOVED
    assert documents[EMPLOYER].removed
    assert {d.request_id for d in check.current_documents()} == {
        ID_ON_MORTGAGE,
        ID_ON_LIFE,
        DISCHARGE,
        PAYSLIP,
    }
    assert str(_MERGED) in check.handled_requests
    # Stored before validity windows and sources: delivered for good, from an unknown source.
    assert all(
        (d.valid_until, d.source, d.replaces_document_id) == (None, None, None)
        for d in check.documents.values()
    )
    app.close()


def test_the_snapshot_and_the_events_of_an_old_store_give_the_same_dossier_check(
    tmp_path: Path,
) -> None:
    from_snapshot = restored(tmp_path / "snapshot.sqlite", with_snapshot=True)
    from_events = restored(tmp_path / "events.sqlite", with_snapshot=False)

    one = from_snapshot.get_dossier_check(OFFICE, DOSSIER)
    other = from_events.get_dossier_check(OFFICE, DOSSIER)

    assert one.version == other.version
    assert one.documents == other.documents
    assert one.handled_requests == other.handled_requests
    from_snapshot.close()
    from_events.close()


@pytest.mark.parametrize("store", [STORE_V1, STORE_V2], ids=["v1", "before the house"])
def test_old_events_publish_exactly_what_they_published(tmp_path: Path, store: Path) -> None:
    app = restored(tmp_path / "old.sqlite", with_snapshot=True, store=store)
    translate = kafka.OUTBOX.translator(app)
    records = stored("event", store)
    notifications = app.recorder.select_notifications(1, len(records))

    for record, notification in zip(records, notifications, strict=True):
        event = app.mapper.to_domain_event(notification)
        # What the relay needed rides no more on the events that only say what happened: the
        # events that open an aggregate are its identity.
        if type(event).__qualname__ not in CREATIONS:
            assert not hasattr(event, "tenant") and not hasattr(event, "dossier_id")
        # Read as a consumer reads them today (the contracts may have grown optional fields
        # since), what it publishes now is what it published then: ids, times, data, all.
        then = [decode(topics.DOSSIERCONTROLE, json.dumps(p).encode()) for p in record["published"]]
        now = [decode(topics.DOSSIERCONTROLE, encode(e)) for e in translate(event)]
        assert [_as_then(e, p) for e, p in zip(now, record["published"], strict=True)] == then, (
            type(event).__qualname__
        )
    app.close()


# Optional fields the contracts gained after a store was written, which a republish of its events
# now fills in from what the dossier check knew all along: a delivery's validity window
# (SPEC section 7). Everything else is published as it was.
ADDED_SINCE = {"DocumentUploaded": ("valid_until",)}


def _as_then(event: Any, published: dict[str, Any]) -> Any:
    added = [f for f in ADDED_SINCE.get(event.type, ()) if f not in published["data"]]
    if not added:
        return event
    data = event.data.model_copy(update=dict.fromkeys(added))
    return event.model_copy(update={"data": data})


def test_a_republished_old_delivery_tells_its_validity_window(tmp_path: Path) -> None:
    app = restored(tmp_path / "old.sqlite", with_snapshot=True, store=STORE_V2)
    translate = kafka.OUTBOX.translator(app)
    notifications = app.recorder.select_notifications(1, 1000)
    uploads = [
        e
        for n in notifications
        for e in translate(app.mapper.to_domain_event(n))
        if e.type == "DocumentUploaded"
    ]
    # The payslip's type is valid for three months; the ID's has no window.
    assert sorted(str(u.data.valid_until) for u in uploads) == [
        "2026-04-05 09:00:00+00:00",
        "None",
    ]
    app.close()


def test_an_old_dossier_check_takes_new_commands_and_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    app = restored(path, with_snapshot=True)

    # The client uploads the discharge; the adviser cannot remove an uploaded document.
    app.upload(UploadDocument(OFFICE, document_id_for(DISCHARGE), PDF, "client:klant-1", T0))
    with pytest.raises(DocumentHasUpload):
        app.remove_document(RemoveDocument(OFFICE, document_id_for(DISCHARGE), "adviser:a-1", T0))
    app.take_snapshot(DossierCheck.create_id(OFFICE, DOSSIER))
    app.close()

    # A restarted service loads the new snapshot of typed state.
    again = restored(path, with_snapshot=True)
    discharge = again.get_dossier_check(OFFICE, DOSSIER).document(document_id_for(DISCHARGE))
    assert discharge.status is DocumentStatus.UPLOADED
    assert discharge.action_point is not None
    assert discharge.action_point.status is ActionPointStatus.COMPLETED
    again.close()


def test_a_store_from_before_the_house_reads_the_same_from_its_snapshot_and_its_events(
    tmp_path: Path,
) -> None:
    from_snapshot = restored(tmp_path / "s.sqlite", with_snapshot=True, store=STORE_V2)
    from_events = restored(tmp_path / "e.sqlite", with_snapshot=False, store=STORE_V2)
    one = from_snapshot.get_dossier_check("kantoor-oud", "dossier-oud")
    other = from_events.get_dossier_check("kantoor-oud", "dossier-oud")
    assert (one.version, one.documents) == (other.version, other.documents)
    # Its reminders told the client of the open items then; so do they now (checked above, here
    # that there was something to tell).
    reminders = [
        p
        for r in stored("event", STORE_V2)
        for p in r["published"]
        if p["type"] == "ActionPointReminderDue"
    ]
    assert len(reminders) == 3 and all(r["data"]["open_items"] for r in reminders)
    # The rejected ID is open again, with its reminders counted; the expired payslip requested
    # again.
    statuses = sorted(d.status.value for d in one.current_documents())
    assert statuses == ["expired", "rejected", "requested", "requested"]
    from_snapshot.close()
    from_events.close()
