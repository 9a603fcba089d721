"""What the scenario service publishes and consumes on Kafka.

Publishes ``actiepunten.scenario.v1`` from its notification log (``OUTBOX`` is the one place
where internal aggregate events become integration events). Consumes the platform topics that
start scenarios by themselves and deliver document lists (stukkenlijsten).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import BatchHandler, Handler, Rejected
from servicekit.domain import Subject, SubjectKind
from servicekit.outbox import Fact, Origin, OutboxMappings
from services.scenario_service.application import (
    APPOINTMENT_SCOPE,
    ReceiveDocumentList,
    Scenarios,
    StartTriggered,
)
from services.scenario_service.domainmodel import RunStatus, TriggerEvent, request_ids_for
from services.scenario_service.household import needs_of
from services.scenario_service.scheduler import RUNS_EXECUTED
from shared.events import contracts as c
from shared.events import durations, topics
from shared.events.codec import action_point_rule

SOURCE = "actiepunten/scenario_service"
PUBLISHES = topics.SCENARIO
CONSUMES = (topics.PRODUCTS, topics.APPOINTMENTS, topics.DOCUMENT_LISTS)
DLQ = topics.SCENARIO_DLQ
# A document list's source becomes each request's ``requested_by``.
MAX_SOURCE_LENGTH = 200


def declare(broker: KafkaBroker) -> None:
    """Declare what the service publishes, for the generated AsyncAPI document."""
    broker.publisher(
        PUBLISHES,
        title=PUBLISHES,
        description="Scenario catalogue, scenario runs and document requests",
        schema=c.ScenarioTopicEvent,
    )
    broker.publisher(DLQ, title=DLQ, description="Records the scenario service could not accept")


def _item(raw: dict[str, Any], since: datetime) -> dict[str, Any]:
    """A scenario or list item as DocumentRequested data (``action_point`` as its v2 rule; its
    ``due_in`` as a due date counted from ``since``)."""
    due_in = raw.get("due_in")
    return {
        "document_type": raw.get("document_type"),
        "title": raw.get("title"),
        "action_point": action_point_rule(raw.get("action_point")),
        "due_at": durations.after(since, due_in) if due_in else None,
        "period": raw.get("period"),
        "instructions": raw.get("instructions"),
    }


OUTBOX = OutboxMappings(SOURCE, subject=lambda event, _: str(event.originator_id))
"""What each stored domain event publishes on ``PUBLISHES``: one function per event class.
Office and dossier come from the aggregate's identity; a run's facts from its state."""

OUTBOX.silent(
    "ScenarioCatalogue.Opened",
    "Appointment.Scheduled",
    "Appointment.RunsAttached",
    "Appointment.Rescheduled",
    "Appointment.Cancelled",
)
# A household is the scenario service's own input (SPEC section 9): its persons (names are
# personal data) reach other services only as the person of each request they make.
OUTBOX.silent("Household.Registered", "Household.Changed")


@OUTBOX.on("ScenarioCatalogue.ScenarioDefined")
def _defined(event: Any, _: Origin) -> Fact:
    return Fact(c.ScenarioDefined, {"scenario_id": event.scenario_id, **event.definition})


@OUTBOX.on("ScenarioCatalogue.ScenarioChanged")
def _changed(event: Any, _: Origin) -> Fact:
    return Fact(c.ScenarioChanged, {"scenario_id": event.scenario_id, **event.definition})


@OUTBOX.on("ScenarioCatalogue.ScenarioDeleted")
def _deleted(event: Any, _: Origin) -> Fact:
    return Fact(c.ScenarioDeleted, {"scenario_id": event.scenario_id})


def _run(event: Any, origin: Origin) -> tuple[Any, dict[str, Any]]:
    """The run after ``event``, and what every fact of a run names: run, scenario, dossier."""
    run = origin.state
    named = {"run_id": event.originator_id, "scenario_id": run.scenario_id}
    return run, named | {"dossier_id": run.dossier_id}


@OUTBOX.on("ScenarioRun.Scheduled", "ScenarioRun.Rescheduled")
def _scheduled(event: Any, origin: Origin) -> Fact:
    """Each copy of a run's schedule carries its version as ``sequence``, so that a consumer
    keeping the latest one can tell an older copy (a relay that lost its lease)."""
    run, named = _run(event, origin)
    return Fact(
        c.ScenarioScheduled,
        {
            **named,
            "scenario_name": run.scenario_name,
            "subject": run.subject,
            "execute_at": event.execute_at,
            "items": run.items,
            "started_by": run.started_by,
            "sequence": event.originator_version,
        },
    )


@OUTBOX.on("ScenarioRun.Cancelled")
def _cancelled(event: Any, origin: Origin) -> Fact:
    _, named = _run(event, origin)
    return Fact(c.ScenarioRunCancelled, {**named, "reason": event.reason})


@OUTBOX.on("ScenarioRun.Executed")
def _executed(event: Any, origin: Origin) -> list[Fact]:
    """The execution, then one DocumentRequested per document the run's items ask for: one per
    item, or per person of the household it was executed with and per period (``needs_of``)."""
    run, named = _run(event, origin)
    executed = {
        **named,
        "subject": run.subject,
        "executed_at": event.executed_at,
        "request_ids": event.request_ids,
    }
    requested = {**named, "source": "scenario", "requested_by": run.started_by}
    subject = Subject.of(run.subject)
    needs = needs_of(run.items, subject, event.household)
    return [Fact(c.ScenarioExecuted, executed)] + [
        Fact(
            c.DocumentRequested,
            {
                "request_id": request_id,
                **_item(need.item, event.executed_at),
                "period": need.period,
                **requested,
                "subject": need.subject(subject).as_dict(),
            },
        )
        for request_id, need in zip(event.request_ids, needs, strict=True)
    ]


@OUTBOX.on("DocumentRequest.Requested")
def _requested(event: Any, _: Origin) -> Fact:
    return Fact(
        c.DocumentRequested,
        {
            "request_id": event.originator_id,
            "dossier_id": event.dossier_id,
            "subject": event.subject,
            "document_type": event.document_type,
            "title": event.title,
            "action_point": action_point_rule(event.action_point),
            "source": "manual",
            "requested_by": event.requested_by,
            "due_at": event.due_at,
            "period": event.period,
            "instructions": event.instructions,
        },
    )


@OUTBOX.on("DocumentList.Received")
def _list_received(event: Any, _: Origin) -> list[Fact]:
    listed = {
        "dossier_id": event.dossier_id,
        "subject": event.subject,
        "source": "document_list",
        "reference": event.reference,
        "requested_by": event.received_from,
    }
    request_ids = request_ids_for(event.originator_id, len(event.items))
    return [
        Fact(
            c.DocumentRequested,
            {"request_id": request_id, **_item(item, event.timestamp), **listed},
        )
        for request_id, item in zip(request_ids, event.items, strict=True)
    ]


def _dossier(event: c.CloudEvent) -> str:
    if not event.dossierid:
        raise ValueError(f"{event.type} without a dossierid extension attribute")
    return event.dossierid


class PlatformHandlers:
    """Inbound platform events -> application commands, each saved with its tracking record.
    A command the domain refuses (a ``DomainError``) is dead-lettered with its reason."""

    def __init__(self, app: Scenarios, now: Callable[[], datetime]) -> None:
        self.app = app
        self.now = now

    def _start(self, command: StartTriggered, tracking: Tracking) -> None:
        runs = self.app.start_triggered(command, self.now(), tracking)
        RUNS_EXECUTED.inc(sum(1 for run in runs if run.status == RunStatus.EXECUTED))

    def product(self, trigger_event: TriggerEvent) -> Handler:
        def handle(event: c.CloudEvent, tracking: Tracking) -> None:
            data = event.data
            subject = Subject(SubjectKind.PRODUCT, data.product_id, data.product_type)
            command = StartTriggered(
                event.tenantid, _dossier(event), subject, trigger_event, cause=str(event.id)
            )
            self._start(command, tracking)

        return handle

    def appointment_scheduled(self, event: c.CloudEvent, tracking: Tracking) -> None:
        data = event.data
        subject = Subject(SubjectKind.APPOINTMENT, data.appointment_id, APPOINTMENT_SCOPE)
        command = StartTriggered(
            event.tenantid,
            _dossier(event),
            subject,
            TriggerEvent.APPOINTMENT_SCHEDULED,
            cause=str(event.id),
            starts_at=data.starts_at,
        )
        self._start(command, tracking)

    def appointment_rescheduled(self, event: c.CloudEvent, tracking: Tracking) -> None:
        data = event.data
        self.app.reschedule_appointment(
            event.tenantid, data.appointment_id, data.starts_at, self.now(), tracking
        )

    def appointment_cancelled(self, event: c.CloudEvent, tracking: Tracking) -> None:
        self.app.cancel_appointment(event.tenantid, event.data.appointment_id, tracking)

    def document_list(self, event: c.CloudEvent, tracking: Tracking) -> None:
        self.app.receive_document_list(_document_list(event), tracking)

    def document_lists(self, events: Sequence[c.CloudEvent], tracking: Tracking) -> None:
        """A consumed batch of document lists in one transaction (``BATCHED``). A list refused
        fails the batch; the consumer then takes its records one at a time."""
        self.app.receive_document_lists([_document_list(event) for event in events], tracking)


def _document_list(event: c.CloudEvent) -> ReceiveDocumentList:
    data = event.data
    if len(event.source) > MAX_SOURCE_LENGTH:
        # Every requested document names it (requested_by): keep those records small.
        raise Rejected(f"source longer than {MAX_SOURCE_LENGTH} characters")
    return ReceiveDocumentList(
        event.tenantid,
        _dossier(event),
        Subject.of(data.subject.model_dump()),
        data.reference,
        [item.model_dump() for item in data.items],
        received_from=event.source,
        traceparent=event.traceparent,
    )


BATCHED = frozenset({"DocumentListReceived"})
"""The types ``batch_handler`` takes (a consumed batch of them in one transaction); the others,
triggers that start runs, are handled one record at a time."""


def batch_handler(app: Scenarios) -> BatchHandler:
    return PlatformHandlers(app, lambda: datetime.now(UTC)).document_lists


def handlers(
    app: Scenarios, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Handler]:
    """The handler of each consumed event type (``PlatformHandlers``)."""
    platform = PlatformHandlers(app, now)
    return {
        "ProductCreated": platform.product(TriggerEvent.PRODUCT_CREATED),
        "ApplicationSubmitted": platform.product(TriggerEvent.APPLICATION_SUBMITTED),
        "AppointmentScheduled": platform.appointment_scheduled,
        "AppointmentRescheduled": platform.appointment_rescheduled,
        "AppointmentCancelled": platform.appointment_cancelled,
        "DocumentListReceived": platform.document_list,
    }
