"""Scenario catalogue, scenario runs, manual requests and document lists (stukkenlijsten).

A scenario is an admin-defined action plan: a name, a scope and the document types it requests.
Starting it on a subject (product or appointment) makes a ``ScenarioRun`` that keeps a copy of the
scenario's items, so later edits of the scenario leave started runs alone.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from servicekit.domain import (
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    Person,
    Subject,
    office_name,
)
from services.scenario_service.household import asks_per_person, household_problem, needs_of
from shared.events.contracts import APPOINTMENT_SCOPE as APPOINTMENT_SCOPE

_NS = uuid5(NAMESPACE_URL, "urn:actiepunten:scenario")


class ScenarioError(DomainError):
    """A command the domain refuses; its kind (``servicekit.domain``) decides the answer: the
    HTTP status, or a dead letter on Kafka."""


class ScenarioNotFound(ScenarioError, NotFound):
    pass


class UnknownScenario(ScenarioError, Invalid):
    """A start that names a scenario the office does not have: the request is wrong, not the
    address (422, not 404)."""


class ScopeMismatch(ScenarioError, Invalid):
    pass


class RunNotFound(ScenarioError, NotFound):
    pass


class RunAlreadyExecuted(ScenarioError, Conflict):
    pass


class DocumentListConflict(ScenarioError, Conflict):
    """A document list under a reference the office used already for another list."""


class InvalidMoment(ScenarioError, Invalid):
    """An execution moment that cannot be planned: past, too far ahead, or not a real time."""


class InvalidTrigger(ScenarioError, Invalid):
    """A trigger that could never start its scenario."""


class InvalidHousehold(ScenarioError, Invalid):
    """A household whose persons cannot be told apart, or too many of them."""


# --- typed state -----------------------------------------------------------------------------


class RunStatus(StrEnum):
    """Where a scenario run is; the values are what the API and the events say."""

    SCHEDULED = "scheduled"
    EXECUTED = "executed"
    CANCELLED = "cancelled"

    @property
    def pending(self) -> bool:
        """Whether the run may still move (execute, be cancelled or rescheduled)."""
        return bool(RUN_TRANSITIONS[self])


RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.SCHEDULED: frozenset({RunStatus.EXECUTED, RunStatus.CANCELLED}),
    RunStatus.EXECUTED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
"""Which status may follow which: a new status is a member above and its row here."""


class TriggerEvent(StrEnum):
    """The platform facts that start a scenario with a trigger by themselves."""

    PRODUCT_CREATED = "product_created"
    APPLICATION_SUBMITTED = "application_submitted"
    APPOINTMENT_SCHEDULED = "appointment_scheduled"


def check_trigger(scope: str, trigger: dict[str, Any] | None) -> None:
    """Refuse a trigger that could never start a scenario of ``scope`` (``InvalidTrigger``),
    rather than keep it silently. An appointment has ``APPOINTMENT_SCOPE``, a product its product
    type (``scope_of`` in the contracts: the one rule, which the web pages follow too)."""
    if trigger is None:
        return
    event_name = trigger.get("event")
    if event_name == TriggerEvent.APPOINTMENT_SCHEDULED:
        if scope != APPOINTMENT_SCOPE:
            raise InvalidTrigger(
                f"an appointment_scheduled trigger needs scope {APPOINTMENT_SCOPE!r}"
            )
    elif scope == APPOINTMENT_SCOPE:
        raise InvalidTrigger(f"a {event_name} trigger needs a product scope")
    elif trigger.get("offset_days") is not None:
        raise InvalidTrigger("offset_days belongs to an appointment_scheduled trigger")


# --- execution moments -----------------------------------------------------------------------

# Dates and wall-clock times of offices are Dutch time.
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A moment this close to now counts as now: client and server clocks differ a little.
PAST_GRACE = timedelta(seconds=5)
# How far ahead a run may be planned: five years, leap days included.
MAX_PLAN_AHEAD = timedelta(days=5 * 365 + 2)


def execution_moment(
    now: datetime,
    *,
    execute_at: datetime | None = None,
    execute_on: date | None = None,
    execute_at_time: time | None = None,
) -> datetime:
    """When a run executes (SPEC section 4): an exact moment, a date and time, or a date.

    Dates and times are Europe/Amsterdam. Today without a time is now; a future date without a
    time is the start of that day. Refused with ``InvalidMoment``: a moment in the past, one
    further ahead than ``MAX_PLAN_AHEAD``, a time with an offset (it would be ignored), and a
    time that does not exist on that day (the spring change skips 02:00-03:00). A time that
    happens twice (the autumn change repeats 02:00-03:00) is its first occurrence, summer time.
    """
    if execute_at is not None:
        if execute_on is not None or execute_at_time is not None:
            raise InvalidMoment("give execute_at, or execute_on/execute_at_time, not both")
        # Compare before converting: an aware datetime near year 1 or 9999 cannot be moved to UTC.
        _check_plannable(execute_at, now)
        return max(execute_at.astimezone(UTC), now)
    today = now.astimezone(AMSTERDAM).date()
    day = execute_on or today
    if execute_at_time is not None and execute_at_time.tzinfo is not None:
        raise InvalidMoment(
            "execute_at_time is a time of day in Europe/Amsterdam, without an offset; "
            "give execute_at for a moment with an offset"
        )
    if day < today:
        raise InvalidMoment(f"the execution date {day.isoformat()} is in the past")
    if day > (now + MAX_PLAN_AHEAD).date():
        _check_plannable(datetime.combine(day, time(0, 0), UTC), now)
    if execute_at_time is None:
        moment = now if day == today else _local(day, time(0, 0))
    else:
        moment = _local(day, execute_at_time)
    _check_plannable(moment, now)
    return max(moment, now)


def triggered_moment(starts_at: datetime, offset_days: int, now: datetime) -> datetime:
    """When an appointment-triggered run executes: ``offset_days`` from the start, or now when
    that has passed; refused (``InvalidMoment``) further ahead than ``MAX_PLAN_AHEAD``."""
    ahead = starts_at - now + timedelta(days=offset_days)  # timedeltas: no overflow
    if ahead <= timedelta(0):
        return now
    if ahead > MAX_PLAN_AHEAD:
        raise InvalidMoment(
            f"a run {offset_days:+d} days from the appointment at {starts_at.isoformat()} is more "
            f"than five years ahead (at most {MAX_PLAN_AHEAD.days} days)"
        )
    return starts_at + timedelta(days=offset_days)


def end_of_day(day: date) -> datetime:
    """A date-only due date: the end of that day (23:59:59) in Europe/Amsterdam, in UTC."""
    return datetime.combine(day, time(23, 59, 59), AMSTERDAM).astimezone(UTC)


def _local(day: date, at: time) -> datetime:
    """``day`` at ``at`` in Amsterdam, in UTC; refused when the clocks skip that time."""
    local = datetime.combine(day, at, AMSTERDAM)  # fold 0: the first of a repeated hour
    moment = local.astimezone(UTC)
    if moment.astimezone(AMSTERDAM).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidMoment(
            f"{at.isoformat('minutes')} does not exist on {day.isoformat()} in "
            "Europe/Amsterdam (the clocks move forward an hour); choose another time"
        )
    return moment


def _check_plannable(moment: datetime, now: datetime) -> None:
    ahead = moment - now  # a timedelta: no overflow, whatever the year
    if ahead < -PAST_GRACE:
        raise InvalidMoment(f"the execution moment {moment.isoformat()} is in the past")
    if ahead > MAX_PLAN_AHEAD:
        raise InvalidMoment(
            f"the execution moment {moment.isoformat()} is more than five years ahead "
            f"(at most {MAX_PLAN_AHEAD.days} days)"
        )


class ScenarioCatalogue(Aggregate):
    """All scenarios of one office (tenant); one aggregate so a listing is one load."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(_NS, office_name("catalogue", tenant))

    @event("Opened")
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.scenarios: dict[str, dict[str, Any]] = {}

    # A definition is what the admin wrote: {"name", "scope", "items", "trigger"}. Events
    # stored before events carried only what happened also hold ``tenant``: left unread.

    @event("ScenarioDefined")
    def define(self, scenario_id: UUID, definition: dict[str, Any], by: str) -> None:
        self.scenarios[str(scenario_id)] = {"scenario_id": str(scenario_id), **definition}

    def change(self, scenario_id: UUID, definition: dict[str, Any], by: str) -> None:
        self.get(scenario_id)
        self._change(scenario_id, definition, by)

    @event("ScenarioChanged")
    def _change(self, scenario_id: UUID, definition: dict[str, Any], by: str) -> None:
        self.scenarios[str(scenario_id)] = {"scenario_id": str(scenario_id), **definition}

    def delete(self, scenario_id: UUID, by: str) -> None:
        self.get(scenario_id)
        self._delete(scenario_id, by)

    @event("ScenarioDeleted")
    def _delete(self, scenario_id: UUID, by: str) -> None:
        del self.scenarios[str(scenario_id)]

    def get(self, scenario_id: UUID) -> dict[str, Any]:
        try:
            return self.scenarios[str(scenario_id)]
        except KeyError:
            raise ScenarioNotFound(f"scenario {scenario_id} not found") from None

    def scenarios_in(self, scope: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.scenarios.values() if scope is None or s["scope"] == scope]

    def triggered_by(self, trigger_event: str, scope: str) -> list[dict[str, Any]]:
        return [
            s
            for s in self.scenarios.values()
            if s["scope"] == scope and (s["trigger"] or {}).get("event") == trigger_event
        ]


def request_ids_for(run_id: UUID, count: int) -> list[UUID]:
    """The document-request ids of a run's items: stable, so re-executing cannot double them."""
    return [uuid5(run_id, f"item:{index}") for index in range(count)]


def triggered_run_id(scenario_id: UUID, tenant: str, trigger_event: str, subject: Subject) -> UUID:
    """The id of the run a platform fact starts: one per office, subject, trigger and scenario.

    It derives from what happened, not from the CloudEvent id, so the same fact sent again as a
    new event finds the run it started before. A JSON list keeps the parts apart whatever
    characters they hold.
    """
    key = json.dumps([tenant, str(trigger_event), subject.type.value, subject.id])
    return uuid5(scenario_id, f"triggered:{key}")


class ScenarioRun(Aggregate):
    """A scenario started on one subject of a dossier, executing at ``execute_at``.

    The caller picks ``run_id``: random for an adviser's start, derived from the triggering event
    for a start by a platform event, so that a repeated event finds the run it made before.
    """

    @staticmethod
    def create_id(run_id: UUID, **_: Any) -> UUID:
        return run_id

    @event("Scheduled")
    def __init__(
        self,
        run_id: UUID,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        scenario_id: UUID,
        scenario_name: str,
        items: list[dict[str, Any]],
        execute_at: datetime,
        started_by: str,
        cause: str | None = None,
        offset_days: int | None = None,
    ) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.subject = subject
        self.scenario_id = scenario_id
        self.scenario_name = scenario_name
        self.items = items
        self.execute_at = execute_at
        self.started_by = started_by
        self.cause = cause
        self.offset_days = offset_days
        self.status = RunStatus.SCHEDULED
        self.cancel_reason: str | None = None
        self.executed_at: datetime | None = None
        self.request_ids: list[UUID] = []
        self.household: list[dict[str, Any]] | None = None

    # Events stored before events carried only what happened also hold ``run`` (the run's facts
    # repeated for the outbox): an event method receives only what it names, so it is unread.

    def may_become(self, status: RunStatus) -> bool:
        return status in RUN_TRANSITIONS[RunStatus(self.status)]

    def due(self, now: datetime) -> bool:
        """Whether the run may execute at ``now``."""
        return self.may_become(RunStatus.EXECUTED) and self.execute_at <= now

    def execute(self, now: datetime, household: list[dict[str, Any]] | None = None) -> None:
        """Execute the run: one request per document its items ask for (``needs_of``), with
        the dossier's ``household`` as it is now for the items that ask per person."""
        if not self.may_become(RunStatus.EXECUTED):
            raise RunAlreadyExecuted(f"run {self.id} is {self.status}")
        # Whom it asked, without their names: the run keeps what its requests name.
        persons = (
            [person.as_dict() for person in map(Person.of, household or ()) if person]
            if asks_per_person(self.items)
            else None
        )
        needs = needs_of(self.items, Subject.of(self.subject), persons)
        self._execute(now, [need.request_id(self.id) for need in needs], persons)

    class Executed(Aggregate.Event):
        # Class version 2 added the household the per-person items were asked of (SPEC
        # section 9): None for a run without such items, as for every run executed before.
        class_version = 2
        executed_at: datetime
        request_ids: list[UUID]
        household: list[dict[str, Any]] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["household"] = None

    @event(Executed)
    def _execute(
        self,
        executed_at: datetime,
        request_ids: list[UUID],
        household: list[dict[str, Any]] | None = None,
    ) -> None:
        self.status = RunStatus.EXECUTED
        self.executed_at = executed_at
        self.request_ids = request_ids
        self.household = household

    def cancel(self, reason: str) -> None:
        """Cancel the run; a cancelled one stays so (a repeat changes nothing)."""
        if self.status == RunStatus.CANCELLED:
            return
        if not self.may_become(RunStatus.CANCELLED):
            raise RunAlreadyExecuted(f"run {self.id} was executed already")
        self._cancel(reason)

    @event("Cancelled")
    def _cancel(self, reason: str) -> None:
        self.status = RunStatus.CANCELLED
        self.cancel_reason = reason

    def reschedule(self, execute_at: datetime) -> None:
        if RunStatus(self.status).pending and execute_at != self.execute_at:
            self._reschedule(execute_at)

    @event("Rescheduled")
    def _reschedule(self, execute_at: datetime) -> None:
        self.execute_at = execute_at


class DocumentRequest(Aggregate):
    """A manual request of one document (the adviser's "request document")."""

    class Requested(Aggregate.Created):
        # Class version 2 added the period and the instructions (SPEC section 9); requests
        # stored before due dates have no ``due_at`` either.
        class_version = 2
        tenant: str
        dossier_id: str
        subject: dict[str, Any]
        document_type: str
        title: str | None
        action_point: bool | None
        requested_by: str
        due_at: datetime | None
        period: str | None
        instructions: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("due_at", None)
            state.update(period=None, instructions=None)

    @event(Requested)
    def __init__(
        self,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        document_type: str,
        title: str | None,
        action_point: bool | None,
        requested_by: str,
        due_at: datetime | None = None,
        period: str | None = None,
        instructions: str | None = None,
    ) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.subject = subject
        self.document_type = document_type
        self.title = title
        self.action_point = action_point
        self.requested_by = requested_by
        self.due_at = due_at
        self.period = period
        self.instructions = instructions


class Household(Aggregate):
    """Who of a dossier documents are asked of (SPEC section 9): its persons, each a role, an
    optional id and a name. Per-person scenario items ask each of them when their run
    executes."""

    @staticmethod
    def create_id(tenant: str, dossier_id: str, **_: Any) -> UUID:
        return uuid5(_NS, office_name("household", tenant, dossier_id))

    @event("Registered")
    def __init__(
        self, tenant: str, dossier_id: str, persons: list[dict[str, Any]], by: str
    ) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id
        self.persons = persons

    @staticmethod
    def check(persons: list[dict[str, Any]]) -> None:
        """Refuses (``InvalidHousehold``) persons that cannot be told apart, or too many."""
        problem = household_problem(persons)
        if problem:
            raise InvalidHousehold(problem)

    def change(self, persons: list[dict[str, Any]], by: str) -> None:
        """The adviser's new list; the same list again changes nothing."""
        self.check(persons)
        if persons != self.persons:
            self._change(persons, by)

    @event("Changed")
    def _change(self, persons: list[dict[str, Any]], by: str) -> None:
        self.persons = persons


class DocumentList(Aggregate):
    """A document list (stukkenlijst) received from outside, e.g. from a lender.

    Its id comes from the office and the list's reference, so receiving it twice is a no-op.
    """

    @staticmethod
    def create_id(tenant: str, reference: str, **_: Any) -> UUID:
        return uuid5(_NS, office_name("document-list", tenant, reference))

    @event("Received")
    def __init__(
        self,
        tenant: str,
        reference: str,
        dossier_id: str,
        subject: dict[str, Any],
        items: list[dict[str, Any]],
        received_from: str,
    ) -> None:
        self.tenant = tenant
        self.reference = reference
        self.dossier_id = dossier_id
        self.subject = subject
        self.items = items
        self.received_from = received_from
        self.request_ids = request_ids_for(self.id, len(items))

    def check_same(
        self, dossier_id: str, subject: dict[str, Any], items: list[dict[str, Any]]
    ) -> None:
        """A list received again under this reference must be this list: a repeat changes
        nothing, a different one is refused rather than silently dropped."""
        differs = [
            name
            for name, mine, theirs in [
                ("dossier_id", self.dossier_id, dossier_id),
                ("subject", self.subject, subject),
                ("items", self.items, items),
            ]
            if mine != theirs
        ]
        if differs:
            raise DocumentListConflict(
                f"document list {self.reference!r} was received before with another "
                f"{' and '.join(differs)}; send a different list under a new reference"
            )


class Appointment(Aggregate):
    """An appointment (afspraak) as far as its triggered scenario runs are concerned."""

    @staticmethod
    def create_id(tenant: str, appointment_id: str, **_: Any) -> UUID:
        return uuid5(_NS, office_name("appointment", tenant, appointment_id))

    @event("Scheduled")
    def __init__(
        self, tenant: str, appointment_id: str, dossier_id: str, starts_at: datetime
    ) -> None:
        self.tenant = tenant
        self.appointment_id = appointment_id
        self.dossier_id = dossier_id
        self.starts_at = starts_at
        self.run_ids: list[UUID] = []
        self.cancelled = False

    @event("RunsAttached")
    def attach_runs(self, run_ids: list[UUID]) -> None:
        self.run_ids.extend(run_ids)

    @event("Rescheduled")
    def reschedule(self, starts_at: datetime) -> None:
        self.starts_at = starts_at

    @event("Cancelled")
    def cancel(self) -> None:
        self.cancelled = True
