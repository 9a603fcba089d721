"""What the dossier check does at a moment, once, in any number of replicas.

The generic piece is ``servicekit.scheduler``. Here: the expiries of delivered documents. An
upload with a validity window (``valid_until``) plans the document's expiry at that moment; a
later upload moves it (each delivery restarts the window), and its expiry or removal ends the
wait. The action is ``DossierChecks.expire_document``: it loads the dossier check, checks that
the document is still to expire, and saves with the version it read, so that of racing
replicas one save wins and the others find it expired.

Here too: due dates (``DueScheduler``). Open action points become overdue at their due date and
remind the client at the moments of the office's reminder schedule. Its timetable is its own
(``DueTimetable``): a dossier check with a due date is loaded again whenever one of its events
(or its office's reminder schedule) is stored, and its open action points give what waits: the
due date (overdue) and the next scheduled reminder. Rebuilt from the log at start, it finds what
fell due while no replica ran (one reminder for the moments missed, not a burst). The actions
(``DossierChecks.mark_overdue``, ``send_scheduled_reminder``) load the dossier check, whose
aggregate refuses a second overdue or a reminder sent already, and save with the version read.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from prometheus_client import Counter, Gauge

from servicekit import scheduler
from servicekit.eventstore import traceparent_of
from servicekit.scheduler import Due
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.domainmodel import (
    Document,
    DossierCheck,
    ReminderPlan,
    ReminderSchedule,
)

MAX_BACKOFF = timedelta(seconds=30)

EXPIRIES_WAITING = Gauge(
    "actiepunten_expiries_waiting", "Delivered documents waiting for the end of their validity"
)
DOCUMENTS_EXPIRED = Counter(
    "actiepunten_documents_expired", "Documents this process expired at the end of their validity"
)


def expiry_moment(event: Any) -> scheduler.Due | scheduler.Gone | None:
    """What a stored event of a dossier check means for the expiries: keyed by the dossier
    check's id and the document's, which is what the action loads."""
    name = type(event).__qualname__
    if name == "DossierCheck.DocumentUploaded":
        key = (event.originator_id, UUID(str(event.document_id)))
        if event.valid_until is None:
            return scheduler.Gone(key)  # delivered again while its type has no window
        return scheduler.Due(key, event.valid_until, traceparent_of(event))
    if name in ("DossierCheck.DocumentExpired", "DossierCheck.DocumentRemoved"):
        return scheduler.Gone((event.originator_id, UUID(str(event.document_id))))
    return None


class ExpiryScheduler(scheduler.Scheduler):
    """Expires delivered documents at the end of their validity window (SPEC section 6)."""

    def __init__(self, app: DossierChecks, *, tick: float = 0.2) -> None:
        self.app = app
        super().__init__(
            scheduler.LoggedTimetable(app, expiry_moment, topic_part=":DossierCheck.Document"),
            self._expire,
            span="expire document",
            tick=tick,
            max_backoff=MAX_BACKOFF,
            done=DOCUMENTS_EXPIRED,
            waiting=EXPIRIES_WAITING,
        )

    def _expire(self, due: scheduler.Due, now: datetime) -> bool:
        dossier_check_id, document_id = cast(tuple[UUID, UUID], due.key)
        return self.app.expire_document(dossier_check_id, document_id, now)


# --- due dates: overdue and reminders ----------------------------------------------------------

OVERDUE = "overdue"
REMINDER = "reminder"


# Stored events that may give a dossier check its first due date; any event of a dossier
# check already watched reloads it (an upload, a removal, a reopening, a reminder sent).
_MAY_ADD_DUE = (".DocumentAdded", ".ActionPointOpened")

# A dossier check's events are stored under its class and the classes of its parts (a claim
# is ``Claims.NotApplicableClaimed``): a refused claim reopens a point, which is due again.
_OF_A_DOSSIER_CHECK = tuple(
    f":{part.__name__}."
    for part in DossierCheck.__mro__
    if issubclass(part, Aggregate) and part is not Aggregate
)


class DueTimetable:
    """What waits in the dossier checks, read from the application's notification log."""

    def __init__(self, app: DossierChecks) -> None:
        self.app = app
        self.position = 0
        self.watched: dict[UUID, str] = {}  # dossier check id -> its office
        self.steps: dict[UUID, list[Due]] = {}  # dossier check id -> what waits in it
        self.plans: dict[str, ReminderPlan] = {}

    def refresh(self) -> None:
        """Learn what changed in the store since the last call."""
        changed: set[UUID] = set()
        for notifications in scheduler.log_pages(self.app, self.position):
            for notification in notifications:
                self._read(notification, changed)
            self.position = notifications[-1].id
        for check_id in changed:
            self._reload(check_id)

    def _read(self, notification: Any, changed: set[UUID]) -> None:
        topic: str = notification.topic
        if ":ReminderSchedule." in topic:
            self._schedule_changed(notification.originator_id, changed)
        elif not any(part in topic for part in _OF_A_DOSSIER_CHECK):
            return
        elif notification.originator_id in self.watched or topic.endswith(".DossierReopened"):
            # A reopened dossier's restored action points may have due dates again.
            changed.add(notification.originator_id)
        elif topic.endswith(_MAY_ADD_DUE):
            event = self.app.domain_event_of(notification)
            if getattr(event, "due_at", None) is not None:
                changed.add(notification.originator_id)

    def _schedule_changed(self, schedule_id: UUID, changed: set[UUID]) -> None:
        for tenant in list(self.plans):
            if ReminderSchedule.create_id(tenant) == schedule_id:
                del self.plans[tenant]
                changed.update(c for c, office in self.watched.items() if office == tenant)

    def _plan(self, tenant: str) -> ReminderPlan:
        plan = self.plans.get(tenant)
        if plan is None:
            plan = self.plans[tenant] = self.app.get_reminder_schedule(tenant)
        return plan

    def _reload(self, check_id: UUID) -> None:
        check: DossierCheck = self.app.get_owned(check_id, copy=False)
        if not any(_has_due_date(document) for document in check.current_documents()):
            # Nothing left that could become due (a completed point may reopen: kept).
            self.watched.pop(check_id, None)
            self.steps.pop(check_id, None)
            return
        self.watched[check_id] = check.tenant
        plan = self._plan(check.tenant)
        steps: list[Due] = []
        for _, point in check.due_points():
            assert point.due_at is not None
            if not point.overdue:
                steps.append(Due((check_id, point.action_point_id, OVERDUE), point.due_at))
            reminder = plan.next_for(point)
            if reminder is not None:
                steps.append(Due((check_id, point.action_point_id, REMINDER), reminder))
        self.steps[check_id] = steps

    def waiting(self) -> list[Due]:
        """What waits, soonest first."""
        return sorted((due for steps in self.steps.values() for due in steps), key=_moment)

    def drop(self, key: Hashable) -> None:
        """Done (or nothing to do): forget it until its dossier check changes again."""
        check_id = cast(tuple[UUID, UUID, str], key)[0]
        steps = self.steps.get(check_id)
        if steps is not None:
            self.steps[check_id] = [due for due in steps if due.key != key]

    def __contains__(self, key: object) -> bool:
        check_id = cast(tuple[UUID, UUID, str], key)[0]
        return any(due.key == key for due in self.steps.get(check_id, ()))

    def __len__(self) -> int:
        return sum(len(steps) for steps in self.steps.values())


def _has_due_date(document: Document) -> bool:
    point = document.current_action_point
    return point is not None and point.due_at is not None


def _moment(due: Due) -> datetime:
    return due.at


DUE_STEPS_DONE = Counter(
    "actiepunten_due_steps_done",
    "Due-date steps done by this process (an action point overdue, a scheduled reminder)",
)
DUE_STEPS_WAITING = Gauge(
    "actiepunten_due_steps_waiting", "Due-date steps (overdue, reminders) waiting for their moment"
)


class DueScheduler(scheduler.Scheduler):
    """Marks open action points overdue and sends scheduled reminders when their moment comes:
    the generic scheduler over the dossier checks' timetable."""

    def __init__(self, app: DossierChecks, *, tick: float = 0.2) -> None:
        self.app = app
        super().__init__(
            DueTimetable(app),
            self._act,
            span="due-date step",
            tick=tick,
            max_backoff=MAX_BACKOFF,
            done=DUE_STEPS_DONE,
            waiting=DUE_STEPS_WAITING,
        )

    def _act(self, due: Due, now: datetime) -> bool:
        check_id, action_point_id, step = cast(tuple[UUID, UUID, str], due.key)
        if step == OVERDUE:
            return self.app.mark_overdue(check_id, action_point_id, now)
        return self.app.send_scheduled_reminder(check_id, action_point_id, now)
