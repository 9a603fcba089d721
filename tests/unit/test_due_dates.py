"""Due dates, overdue and reminders in the dossier check (SPEC section 6), without a broker.

The reminder moments are a table (schedule x due date x opening -> moments); the aggregate
refuses a second overdue and a reminder that was sent; the scheduler, rebuilt from the store's
log or running twice as two replicas would, does each step once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.dossiercontrole_service import kafka as dossier_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ClaimNotApplicable,
    ConfigureDocumentType,
    DossierChecks,
    RemindNow,
    ReviewDocument,
    SetReminderSchedule,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    ActionPoint,
    ActionPointStatus,
    AlreadyDone,
    DossierCheck,
    NotOpen,
    ReminderPlan,
    action_point_id_for,
    document_id_for,
)
from services.dossiercontrole_service.scheduler import DueScheduler
from shared.events import topics
from tests.unit.kafka_edge import Outbox

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=10)
OFFICE, DOSSIER = "kantoor-utrecht", "dossier-1"
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
FILE = {"sha256": "a" * 64, "size": 10, "content_type": "application/pdf", "filename": "a.pdf"}
DAY = timedelta(days=1)


def plan(**settings: Any) -> ReminderPlan:
    return ReminderPlan(**settings)


# --- the reminder moments: schedule x due x opened -> moments ---------------------------------


@pytest.mark.parametrize(
    ("schedule", "opened", "moments"),
    [
        # The default: 3 days before, on the day, then weekly, 5 in all.
        (
            plan(),
            NOW,
            [DUE - 3 * DAY, DUE, DUE + 7 * DAY, DUE + 14 * DAY, DUE + 21 * DAY],
        ),
        # Opened 2 days before its due date: the 3-days-before reminder was past already
        # (still five in all).
        (
            plan(),
            DUE - 2 * DAY,
            [DUE, DUE + 7 * DAY, DUE + 14 * DAY, DUE + 21 * DAY, DUE + 28 * DAY],
        ),
        # Several before the due date, in order, whatever order the admin wrote them in.
        (
            plan(before_due=("P1D", "P7D"), every_after_due=None),
            NOW,
            [DUE - 7 * DAY, DUE - DAY, DUE],
        ),
        # Nothing on the day; monthly after it, by the calendar; the maximum holds.
        (
            plan(before_due=(), on_due=False, every_after_due="P1M", max_reminders=2),
            NOW,
            [datetime(2025, 4, 20, 9, tzinfo=UTC), datetime(2025, 5, 20, 9, tzinfo=UTC)],
        ),
        # No reminders at all.
        (plan(max_reminders=0), NOW, []),
        (plan(before_due=(), on_due=False, every_after_due=None), NOW, []),
        # Opened past its due date (a reopened point): on the day and after, not before.
        (plan(max_reminders=3), DUE + DAY, [DUE, DUE + 7 * DAY, DUE + 14 * DAY]),
    ],
    ids=["default", "opened-late", "two-before", "monthly-max-2", "none", "nothing", "past-due"],
)
def test_the_reminder_moments_of_a_schedule(
    schedule: ReminderPlan, opened: datetime, moments: list[datetime]
) -> None:
    assert schedule.moments(DUE, opened) == moments


def point(**fields: Any) -> ActionPoint:
    return ActionPoint(uuid4(), ActionPointStatus.OPEN, NOW, due_at=DUE, **fields)


@pytest.mark.parametrize(
    ("reminded_for", "now", "next_one", "due_now"),
    [
        (None, NOW, DUE - 3 * DAY, None),
        (None, DUE - 3 * DAY, DUE - 3 * DAY, DUE - 3 * DAY),
        (DUE - 3 * DAY, DUE - DAY, DUE, None),
        # The scheduler was down for two weeks: one reminder, for the latest moment it missed.
        (DUE - 3 * DAY, DUE + 15 * DAY, DUE, DUE + 14 * DAY),
        (DUE + 21 * DAY, DUE + 99 * DAY, None, None),  # all five sent
    ],
)
def test_the_next_reminder_follows_the_last_one_sent(
    reminded_for: datetime | None, now: datetime, next_one: datetime | None, due_now: Any
) -> None:
    reminded = point(reminded_for=reminded_for)
    assert plan().next_for(reminded) == next_one
    assert plan().latest_due_for(reminded, now) == due_now


# --- the aggregate does each step once -------------------------------------------------------


def check_with_a_due_point() -> tuple[DossierCheck, UUID]:
    check = DossierCheck(OFFICE, DOSSIER)
    request_id = uuid4()
    check.request_document(request_id, MORTGAGE, "loonstrook", "Loonstrook", True, NOW, due_at=DUE)
    return check, action_point_id_for(request_id)


def test_an_open_point_becomes_overdue_once_and_not_before_its_due_date() -> None:
    check, point_id = check_with_a_due_point()
    with pytest.raises(NotOpen):
        check.mark_overdue(point_id, DUE - timedelta(seconds=1))
    check.mark_overdue(point_id, DUE)
    with pytest.raises(AlreadyDone):
        check.mark_overdue(point_id, DUE + DAY)


def test_a_reminder_number_or_a_scheduled_moment_is_sent_once() -> None:
    check, point_id = check_with_a_due_point()
    check.remind(point_id, 1, DUE - 3 * DAY, scheduled_for=DUE - 3 * DAY)
    with pytest.raises(AlreadyDone):
        check.remind(point_id, 1, DUE - 3 * DAY, scheduled_for=DUE - 3 * DAY)
    with pytest.raises(AlreadyDone):
        check.remind(point_id, 2, DUE - 2 * DAY, scheduled_for=DUE - 3 * DAY)
    check.remind(point_id, 2, DUE - 2 * DAY, by="adviser:anna")  # asked for: the next number
    [document] = check.current_documents()
    assert document.action_point is not None
    assert (document.action_point.reminders, document.action_point.reminded_for) == (
        2,
        DUE - 3 * DAY,
    )


def test_a_completed_point_is_not_overdue_nor_reminded() -> None:
    check, point_id = check_with_a_due_point()
    check.mark_overdue(point_id, DUE)
    [document] = check.current_documents()
    check.upload(document.document_id, FILE, "client:c", DUE + DAY)
    [document] = check.current_documents()
    assert document.action_point is not None
    assert document.action_point.overdue is False
    with pytest.raises(NotOpen):
        check.remind(point_id, 1, DUE + DAY)
    with pytest.raises(NotOpen):
        check.mark_overdue(point_id, DUE + DAY)


# --- the scheduler, as replicas and across a restart --------------------------------------------


def requested(app: DossierChecks, document_type: str, due_at: datetime | None = DUE) -> UUID:
    request_id = uuid4()
    request = AddRequestedDocument(
        OFFICE, DOSSIER, request_id, MORTGAGE, document_type, None, None, NOW, due_at=due_at
    )
    app.add_requested_document(request)
    return request_id


def steps(app: DossierChecks, kind: str) -> list[Any]:
    return [
        event
        for notification in app.recorder.select_notifications(0, 1000)
        if notification.topic.endswith(kind)
        for event in [app.mapper.to_domain_event(notification)]
    ]


def test_two_replicas_and_a_restart_mark_overdue_and_remind_once(checks: DossierChecks) -> None:
    payslip = requested(checks, "loonstrook")
    first, second = DueScheduler(checks), DueScheduler(checks)

    # Nothing before the first reminder; at it, one replica sends it.
    assert first.run_due(DUE - 4 * DAY) + second.run_due(DUE - 4 * DAY) == 0
    assert first.run_due(DUE - 3 * DAY) + second.run_due(DUE - 3 * DAY) == 1
    # At the due date: overdue and the second reminder, once, whoever ticks.
    assert second.run_due(DUE) + first.run_due(DUE) == 2
    # A scheduler rebuilt from the log (a restart) finds it all done.
    assert DueScheduler(checks).run_due(DUE + timedelta(hours=1)) == 0

    [overdue] = steps(checks, ".ActionPointOverdue")
    assert (overdue.action_point_id, overdue.due_at) == (action_point_id_for(payslip), DUE)
    reminders = steps(checks, ".ActionPointReminderDue")
    assert [(r.number, r.scheduled_for) for r in reminders] == [(1, DUE - 3 * DAY), (2, DUE)]
    assert reminders[0].by is None
    # What the first reminder tells the client: the dossier's open items then (read from the
    # dossier check after the event, not copied onto it).
    published = Outbox(checks, topics.DOSSIERCONTROLE, dossier_kafka.OUTBOX.translator(checks))
    [first_reminder, _] = [e for e in published.all() if e.type == "ActionPointReminderDue"]
    assert [item.document_type for item in first_reminder.data.open_items] == ["loonstrook"]


def test_reminders_stop_at_completion_and_follow_a_changed_schedule(
    checks: DossierChecks,
) -> None:
    payslip, annual = requested(checks, "loonstrook"), requested(checks, "jaaropgave")
    scheduler = DueScheduler(checks)
    checks.set_reminder_schedule(
        SetReminderSchedule(OFFICE, [], True, "P1D", 2, "admin")  # on the day, then daily
    )
    checks.upload(UploadDocument(OFFICE, document_id_for(annual), FILE, "client:c", NOW))
    assert scheduler.run_due(DUE - DAY) == 0  # the 3-days-before reminder is no more
    assert scheduler.run_due(DUE + 3 * DAY) == 2  # overdue, and one reminder (not a burst)
    assert scheduler.run_due(DUE + 9 * DAY) == 0  # two in all: the second was the day after
    reminders = steps(checks, ".ActionPointReminderDue")
    assert [r.action_point_id for r in reminders] == [action_point_id_for(payslip)]
    assert [r.scheduled_for for r in reminders] == [DUE + DAY]  # the latest missed moment


def test_the_adviser_reminds_now_with_the_next_number(checks: DossierChecks) -> None:
    payslip = action_point_id_for(requested(checks, "loonstrook", due_at=None))
    checks.remind_now(RemindNow(OFFICE, payslip, "adviser:anna", NOW))
    checks.remind_now(RemindNow(OFFICE, payslip, "adviser:anna", NOW))
    assert [(r.number, r.by) for r in steps(checks, ".ActionPointReminderDue")] == [
        (1, "adviser:anna"),
        (2, "adviser:anna"),
    ]


def test_a_document_types_due_in_counts_from_the_request(checks: DossierChecks) -> None:
    checks.configure_document_type(
        ConfigureDocumentType(OFFICE, "loonstrook", "Loonstrook", True, "admin", due_in="P14D")
    )
    by_type = requested(checks, "loonstrook", due_at=None)
    own = requested(checks, "jaaropgave", due_at=DUE)
    check = checks.get_dossier_check(OFFICE, DOSSIER)
    assert check.document(document_id_for(by_type)).due_at == NOW + 14 * DAY
    assert check.document(document_id_for(own)).due_at == DUE


def test_a_point_reopened_past_its_due_date_becomes_overdue_again(checks: DossierChecks) -> None:
    payslip = requested(checks, "loonstrook")
    document_id = document_id_for(payslip)
    scheduler = DueScheduler(checks)
    checks.set_reminder_schedule(SetReminderSchedule(OFFICE, [], False, None, 0, "admin"))
    assert scheduler.run_due(DUE) == 1  # overdue

    # The client delivers: no longer overdue. The adviser rejects it: open again, past due.
    checks.upload(UploadDocument(OFFICE, document_id, FILE, "client:c", DUE + DAY))
    assert checks.get_dossier_check(OFFICE, DOSSIER).document(document_id).action_point == (
        ActionPoint(
            action_point_id_for(payslip),
            ActionPointStatus.COMPLETED,
            NOW,
            completed_at=DUE + DAY,
            due_at=DUE,
        )
    )
    checks.review(
        ReviewDocument(OFFICE, document_id, "reject", "Onleesbaar", "adviser:anna", DUE + DAY)
    )

    assert scheduler.run_due(DUE + 2 * DAY) == 1  # overdue again, by the scheduler
    assert scheduler.run_due(DUE + 3 * DAY) == 0
    assert len(steps(checks, ".ActionPointOverdue")) == 2


def test_a_claim_stops_the_reminders_and_a_refused_one_brings_them_back(
    checks: DossierChecks,
) -> None:
    # SPEC section 9: "not applicable" answers the point for now; refused, it is open again.
    divorce = requested(checks, "echtscheidingsconvenant")
    scheduler = DueScheduler(checks)
    checks.set_reminder_schedule(SetReminderSchedule(OFFICE, [], True, "P1D", 10, "admin"))
    point = action_point_id_for(divorce)
    checks.claim_not_applicable(
        ClaimNotApplicable(OFFICE, point, "Nooit getrouwd", "client:c", NOW)
    )

    assert scheduler.run_due(DUE + DAY) == 0  # neither overdue nor reminded

    checks.review(
        ReviewDocument(
            OFFICE, document_id_for(divorce), "reject", "Wel getrouwd", "adviser:anna", DUE + DAY
        )
    )
    assert scheduler.run_due(DUE + 2 * DAY) == 2  # overdue, and reminded again
    assert [r.action_point_id for r in steps(checks, ".ActionPointReminderDue")] == [point]
