"""Validity windows (SPEC section 6): a delivered document stays valid for its type's
``valid_for``, counted from its delivery; at the end of the window it expires, once, and where
its type says so it is requested again, linked to the expired one.

The application runs on eventsourcing's in-memory store; the stories of replicas and restarts
run on one SQLite store shared by two applications, as replicas share the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.dossiercontrole_service import kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ConfigureDocumentType,
    CopyDocument,
    DossierChecks,
    RemoveActionPoint,
    RemoveDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    ActionPointStatus,
    Document,
    DocumentCommand,
    DocumentStatus,
    DossierCheck,
    MoveRefused,
    action_point_id_for,
    document_id_for,
    rerequest_id_for,
    validity_end,
)
from services.dossiercontrole_service.scheduler import ExpiryScheduler
from shared.events import contracts as c

NOW = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
OFFICE, DOSSIER = "kantoor-utrecht", "dossier-1"
EMPLOYER = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
PAYSLIP = {"sha256": "a" * 64, "size": 1000, "content_type": "application/pdf", "filename": "l.pdf"}


def sqlite_replica(path: Path) -> DossierChecks:
    return DossierChecks(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )


def configure(app: DossierChecks, code: str, **settings: Any) -> None:
    app.configure_document_type(
        ConfigureDocumentType(OFFICE, code, code.capitalize(), True, "admin-1", **settings)
    )


def request(app: DossierChecks, document_type: str, source: str | None = "scenario") -> UUID:
    request_id = uuid4()
    app.add_requested_document(
        AddRequestedDocument(
            OFFICE, DOSSIER, request_id, EMPLOYER, document_type, None, None, NOW, source=source
        )
    )
    return document_id_for(request_id)


def deliver(app: DossierChecks, document_id: UUID, at: datetime) -> Document:
    check = app.upload(UploadDocument(OFFICE, document_id, PAYSLIP, "client:klant-1", at))
    return check.document(document_id)


def documents(app: DossierChecks) -> dict[UUID, Document]:
    check = app.get_dossier_check(OFFICE, DOSSIER)
    return {d.document_id: d for d in check.current_documents()}


def check_id() -> UUID:
    return DossierCheck.create_id(OFFICE, DOSSIER)


# --- the window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered_at", "valid_for", "valid_until"),
    [
        # Months by the calendar: the end of a shorter month is the last day it has.
        (datetime(2026, 1, 31, 9, 0, tzinfo=UTC), "P1M", datetime(2026, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2027, 11, 30, 9, 0, tzinfo=UTC), "P3M", datetime(2028, 2, 29, 9, 0, tzinfo=UTC)),
        (datetime(2026, 8, 31, 9, 0, tzinfo=UTC), "P6M", datetime(2027, 2, 28, 9, 0, tzinfo=UTC)),
        (datetime(2026, 5, 15, 9, 0, tzinfo=UTC), "P3M", datetime(2026, 8, 15, 9, 0, tzinfo=UTC)),
        (
            datetime(2026, 5, 15, 9, 0, tzinfo=UTC),
            "PT3S",
            datetime(2026, 5, 15, 9, 0, 3, tzinfo=UTC),
        ),
        (datetime(2026, 5, 15, 9, 0, tzinfo=UTC), "P1M2D", datetime(2026, 6, 17, 9, 0, tzinfo=UTC)),
        (datetime(2026, 5, 15, 9, 0, tzinfo=UTC), None, None),
    ],
)
def test_the_window_ends_its_duration_after_the_delivery(
    delivered_at: datetime, valid_for: str | None, valid_until: datetime | None
) -> None:
    assert validity_end(delivered_at, valid_for) == valid_until


def test_each_delivery_starts_the_window_of_its_type_then(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P3M")
    document_id = request(checks, "loonstrook")
    assert documents(checks)[document_id].valid_until is None  # nothing delivered yet

    assert deliver(checks, document_id, NOW).valid_until == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)

    # The office shortens the window; the next upload restarts it with the new one.
    configure(checks, "loonstrook", valid_for="P1M")
    again = deliver(checks, document_id, NOW + timedelta(days=1))
    assert again.valid_until == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert len(again.files) == 2

    # A type without a window: a delivery is valid for good.
    other = request(checks, "paspoort")
    assert deliver(checks, other, NOW).valid_until is None


def test_a_copied_file_starts_the_window_at_the_copy(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P3M")
    source = request(checks, "werkgeversverklaring")
    deliver(checks, source, NOW)
    target = request(checks, "loonstrook")

    check = checks.copy(CopyDocument(OFFICE, target, source, "adviser:a-1", NOW))

    assert check.document(target).valid_until == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)


def test_the_request_says_where_it_came_from(checks: DossierChecks) -> None:
    from_scenario = request(checks, "loonstrook", "scenario")
    from_before = request(checks, "paspoort", None)

    found = documents(checks)
    assert found[from_scenario].source == "scenario"
    assert found[from_before].source is None
    assert found[from_scenario].replaces_document_id is None


# --- the end of the window ---------------------------------------------------------------------


def test_a_delivered_document_expires_once_at_the_end_of_its_window(
    checks: DossierChecks,
) -> None:
    configure(checks, "taxatierapport", valid_for="P6M")
    document_id = request(checks, "taxatierapport")
    valid_until = deliver(checks, document_id, NOW).valid_until
    assert valid_until is not None

    # Not before its moment.
    assert not checks.expire_document(check_id(), document_id, valid_until - timedelta(seconds=1))
    assert documents(checks)[document_id].status is DocumentStatus.UPLOADED

    assert checks.expire_document(check_id(), document_id, valid_until)

    expired = documents(checks)[document_id]
    assert expired.status is DocumentStatus.EXPIRED
    assert expired.action_point is not None
    assert expired.action_point.status is ActionPointStatus.COMPLETED  # stays completed
    assert expired.allowed_commands() == []  # no upload, no removal: a new request instead
    assert len(documents(checks)) == 1  # its type does not request it again
    # Once only: a retry, or a second replica, finds it expired and changes nothing.
    assert not checks.expire_document(check_id(), document_id, valid_until + timedelta(days=1))
    assert [e.type for e in published(checks)].count("DocumentExpired") == 1


def test_an_expired_document_takes_no_upload_nor_removal_but_its_task_can_go(
    checks: DossierChecks,
) -> None:
    configure(checks, "loonstrook", valid_for="P3M")
    payslip = request(checks, "loonstrook")
    valid_until = deliver(checks, payslip, NOW).valid_until
    assert valid_until is not None
    assert checks.expire_document(check_id(), payslip, valid_until)

    with pytest.raises(MoveRefused) as refused:
        deliver(checks, payslip, valid_until + timedelta(days=1))
    assert refused.value.status == 409
    with pytest.raises(MoveRefused):
        checks.remove_document(RemoveDocument(OFFICE, payslip, "adviser:a-1", valid_until))

    # Way 2b: the adviser takes the (completed) task off the client's list.
    point = documents(checks)[payslip].action_point
    assert point is not None
    checks.remove_action_point(
        RemoveActionPoint(OFFICE, point.action_point_id, "adviser:a-1", valid_until)
    )
    after = documents(checks)[payslip]
    assert after.status is DocumentStatus.EXPIRED and after.current_action_point is None


def test_the_clock_is_never_offered_as_a_command(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P3M")
    document_id = request(checks, "loonstrook")

    delivered = deliver(checks, document_id, NOW)

    assert DocumentCommand.EXPIRE not in delivered.allowed_commands()


def test_where_its_type_says_so_an_expired_document_is_requested_again(
    checks: DossierChecks,
) -> None:
    configure(checks, "loonstrook", valid_for="P3M", rerequest_on_expiry=True)
    payslip = request(checks, "loonstrook")
    valid_until = deliver(checks, payslip, NOW).valid_until
    assert valid_until is not None

    assert checks.expire_document(check_id(), payslip, valid_until)

    # A new request of the same type on the same subject, its ids derived from the expired one.
    request_id = rerequest_id_for(payslip)
    again = documents(checks)[document_id_for(request_id)]
    old = documents(checks)[payslip]
    assert (again.document_type, again.subject, again.title) == (
        "loonstrook",
        old.subject,
        old.title,
    )
    assert (again.status, again.source, again.replaces_document_id) == (
        DocumentStatus.REQUESTED,
        "expired",
        payslip,
    )
    assert again.action_point is not None
    assert again.action_point.action_point_id == action_point_id_for(request_id)
    assert again.action_point.status is ActionPointStatus.OPEN
    # The API finds them by id.
    assert checks.locate(OFFICE, again.document_id) is not None
    assert checks.locate(OFFICE, again.action_point.action_point_id) is not None

    # Published: the expiry names the new request; the new request names the expired one.
    events = published(checks)
    [expiry] = [e for e in events if isinstance(e, c.DocumentExpired)]
    assert (expiry.data.document_id, expiry.data.valid_until) == (payslip, valid_until)
    assert expiry.data.rerequested_document_id == again.document_id
    [added] = [
        e
        for e in events
        if isinstance(e, c.DocumentAdded) and e.data.document_id == again.document_id
    ]
    assert (added.data.source, added.data.replaces_document_id) == ("expired", payslip)
    [opened] = [
        e
        for e in events
        if isinstance(e, c.ActionPointOpened) and e.data.document_id == again.document_id
    ]
    assert opened.data.replaces_document_id == payslip


def test_the_type_is_read_at_expiry(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P3M", rerequest_on_expiry=True)
    payslip = request(checks, "loonstrook")
    valid_until = deliver(checks, payslip, NOW).valid_until
    assert valid_until is not None
    # The office stops re-requesting payslips before this one expires.
    configure(checks, "loonstrook", valid_for="P3M", rerequest_on_expiry=False)

    assert checks.expire_document(check_id(), payslip, valid_until)

    assert list(documents(checks)) == [payslip]
    [expiry] = [e for e in published(checks) if isinstance(e, c.DocumentExpired)]
    assert expiry.data.rerequested_document_id is None


def test_an_expiry_adds_no_second_request_beside_an_open_one(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P3M", rerequest_on_expiry=True)
    payslip = request(checks, "loonstrook")
    valid_until = deliver(checks, payslip, NOW).valid_until
    assert valid_until is not None
    # A scenario asked for a new payslip on the same subject in the meantime.
    newer = request(checks, "loonstrook")

    assert checks.expire_document(check_id(), payslip, valid_until)

    assert set(documents(checks)) == {payslip, newer}
    assert documents(checks)[payslip].status is DocumentStatus.EXPIRED


def published(app: DossierChecks) -> list[c.CloudEvent]:
    translate = kafka.OUTBOX.translator(app)
    notifications = app.recorder.select_notifications(0, 1000)
    return [e for n in notifications for e in translate(app.mapper.to_domain_event(n))]


# --- replicas and restarts ---------------------------------------------------------------------


def test_two_replicas_expire_a_document_once_and_a_restart_does_not_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dossiercontrole.sqlite"
    first, second = sqlite_replica(path), sqlite_replica(path)
    configure(first, "loonstrook", valid_for="PT30S", rerequest_on_expiry=True)
    payslip = request(first, "loonstrook")
    valid_until = deliver(first, payslip, NOW).valid_until
    assert valid_until is not None
    # Both replicas know the document and plan its expiry from the shared log.
    schedulers = [ExpiryScheduler(first), ExpiryScheduler(second)]
    assert [s.run_due(NOW) for s in schedulers] == [0, 0]
    assert second.get_dossier_check(OFFICE, DOSSIER).document(payslip).valid_until == valid_until

    # At the moment, each replica tries it: one expires it, the other finds it done.
    done = [s.run_due(valid_until) for s in schedulers]

    assert sorted(done) == [0, 1]
    expiries = [e for e in published(first) if isinstance(e, c.DocumentExpired)]
    assert len(expiries) == 1
    requested_again = [
        e for e in published(first) if isinstance(e, c.DocumentAdded) and e.data.source == "expired"
    ]
    assert len(requested_again) == 1

    # A replica started later reads the log: the expiry is done, nothing waits.
    first.close()
    second.close()
    restarted = sqlite_replica(path)
    scheduler = ExpiryScheduler(restarted)
    assert scheduler.run_due(valid_until + timedelta(days=1)) == 0
    assert len(scheduler.timetable) == 0
    restarted.close()


def test_a_replica_started_after_the_moment_expires_what_fell_due(tmp_path: Path) -> None:
    path = tmp_path / "dossiercontrole.sqlite"
    app = sqlite_replica(path)
    configure(app, "werkgeversverklaring", valid_for="P3M")
    statement = request(app, "werkgeversverklaring")
    valid_until = deliver(app, statement, NOW).valid_until
    assert valid_until is not None
    app.close()

    # No replica ran at the moment; the next one to start finds it due.
    restarted = sqlite_replica(path)
    assert ExpiryScheduler(restarted).run_due(valid_until + timedelta(hours=1)) == 1
    assert documents(restarted)[statement].status is DocumentStatus.EXPIRED
    restarted.close()


def test_a_new_delivery_moves_the_planned_expiry(checks: DossierChecks) -> None:
    configure(checks, "loonstrook", valid_for="P1M")
    payslip = request(checks, "loonstrook")
    first_end = deliver(checks, payslip, NOW).valid_until
    scheduler = ExpiryScheduler(checks)
    assert scheduler.run_due(NOW) == 0
    assert first_end is not None
    second_end = deliver(checks, payslip, NOW + timedelta(days=10)).valid_until
    assert second_end is not None and second_end > first_end

    assert scheduler.run_due(first_end) == 0
    assert documents(checks)[payslip].status is DocumentStatus.UPLOADED
    assert scheduler.run_due(second_end) == 1
    assert documents(checks)[payslip].status is DocumentStatus.EXPIRED
