"""What the scenario service publishes and consumes on Kafka.

Publishes ``actiepunten.scenario.v1`` from its notification log (``translate`` is the one place
where internal aggregate events become integration events). Consumes the platform topics that
start scenarios by themselves and deliver document lists (stukkenlijsten).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import Handler, Rejected
from servicekit.outbox import integration_event_id
from services.scenario_service.application import APPOINTMENT_SCOPE, Scenarios
from services.scenario_service.domainmodel import (
    DocumentListConflict,
    InvalidMoment,
    request_ids_for,
)
from services.scenario_service.scheduler import RUNS_EXECUTED
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import action_point_rule, new_event

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


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    """A scenario or list item as DocumentRequested data (``action_point`` as its v2 rule)."""
    return {
        "document_type": raw.get("document_type"),
        "title": raw.get("title"),
        "action_point": action_point_rule(raw.get("action_point")),
    }


def translate(event: Any) -> list[c.CloudEvent]:
    """Internal aggregate event -> the integration events it publishes."""
    # Aggregate event classes are made by @event at run time: match them by name.
    name = type(event).__qualname__
    made: list[tuple[type[c.CloudEvent], dict[str, Any], str, str | None]] = []
    if name in ("ScenarioCatalogue.ScenarioDefined", "ScenarioCatalogue.ScenarioChanged"):
        kind = (
            c.ScenarioDefined if name == "ScenarioCatalogue.ScenarioDefined" else c.ScenarioChanged
        )
        data = {"scenario_id": event.scenario_id, **event.definition}
        made.append((kind, data, event.tenant, None))
    elif name == "ScenarioCatalogue.ScenarioDeleted":
        made.append((c.ScenarioDeleted, {"scenario_id": event.scenario_id}, event.tenant, None))
    elif name == "ScenarioRun.Scheduled":
        made.append(
            (
                c.ScenarioScheduled,
                _scheduled(event.originator_id, vars(event), event.execute_at)
                | {"sequence": event.originator_version},
                event.tenant,
                event.dossier_id,
            )
        )
    elif name == "ScenarioRun.Rescheduled":
        made.append(
            (
                c.ScenarioScheduled,
                _scheduled(event.originator_id, event.run, event.execute_at)
                | {"sequence": event.originator_version},
                event.run["tenant"],
                event.run["dossier_id"],
            )
        )
    elif name == "ScenarioRun.Cancelled":
        run = event.run
        made.append(
            (
                c.ScenarioRunCancelled,
                {
                    "run_id": event.originator_id,
                    "scenario_id": run["scenario_id"],
                    "dossier_id": run["dossier_id"],
                    "reason": event.reason,
                },
                run["tenant"],
                run["dossier_id"],
            )
        )
    elif name == "ScenarioRun.Executed":
        run = event.run
        made.append(
            (
                c.ScenarioExecuted,
                {
                    "run_id": event.originator_id,
                    "scenario_id": run["scenario_id"],
                    "dossier_id": run["dossier_id"],
                    "subject": run["subject"],
                    "executed_at": event.executed_at,
                    "request_ids": event.request_ids,
                },
                run["tenant"],
                run["dossier_id"],
            )
        )
        for request_id, item in zip(event.request_ids, run["items"], strict=True):
            made.append(
                (
                    c.DocumentRequested,
                    {
                        "request_id": request_id,
                        "dossier_id": run["dossier_id"],
                        "subject": run["subject"],
                        **_item(item),
                        "source": "scenario",
                        "run_id": event.originator_id,
                        "scenario_id": run["scenario_id"],
                        "requested_by": run["started_by"],
                    },
                    run["tenant"],
                    run["dossier_id"],
                )
            )
    elif name == "DocumentRequest.Requested":
        made.append(
            (
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
                },
                event.tenant,
                event.dossier_id,
            )
        )
    elif name == "DocumentList.Received":
        request_ids = request_ids_for(event.originator_id, len(event.items))
        for request_id, item in zip(request_ids, event.items, strict=True):
            made.append(
                (
                    c.DocumentRequested,
                    {
                        "request_id": request_id,
                        "dossier_id": event.dossier_id,
                        "subject": event.subject,
                        **_item(item),
                        "source": "document_list",
                        "reference": event.reference,
                        "requested_by": event.received_from,
                    },
                    event.tenant,
                    event.dossier_id,
                )
            )
    return [
        new_event(
            kind,
            data,
            source=SOURCE,
            tenant=tenant,
            dossier=dossier,
            subject=str(event.originator_id),
            event_id=integration_event_id(event, index),
            time=event.timestamp,
            correlation_id=str(event.originator_id),
        )
        for index, (kind, data, tenant, dossier) in enumerate(made)
    ]


def _scheduled(run_id: Any, run: dict[str, Any], execute_at: datetime) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "scenario_id": run["scenario_id"],
        "scenario_name": run["scenario_name"],
        "dossier_id": run["dossier_id"],
        "subject": run["subject"],
        "execute_at": execute_at,
        "items": run["items"],
        "started_by": run["started_by"],
    }


def _dossier(event: c.CloudEvent) -> str:
    if not event.dossierid:
        raise ValueError(f"{event.type} without a dossierid extension attribute")
    return event.dossierid


def handlers(
    app: Scenarios, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Handler]:
    """Inbound platform events -> application commands, each saved with its tracking record."""

    def product(trigger_event: str) -> Handler:
        def handle(event: c.CloudEvent, tracking: Tracking) -> None:
            data = event.data
            subject = {"type": "product", "id": data.product_id, "scope": data.product_type}
            runs = app.start_triggered(
                event.tenantid,
                _dossier(event),
                subject,
                trigger_event,
                cause=str(event.id),
                now=now(),
                tracking=tracking,
            )
            RUNS_EXECUTED.inc(sum(1 for run in runs if run.status == "executed"))

        return handle

    def appointment_scheduled(event: c.CloudEvent, tracking: Tracking) -> None:
        data = event.data
        subject = {"type": "appointment", "id": data.appointment_id, "scope": APPOINTMENT_SCOPE}
        try:
            runs = app.start_triggered(
                event.tenantid,
                _dossier(event),
                subject,
                "appointment_scheduled",
                cause=str(event.id),
                now=now(),
                tracking=tracking,
                starts_at=data.starts_at,
            )
        except InvalidMoment as error:
            raise Rejected(str(error)) from None
        RUNS_EXECUTED.inc(sum(1 for run in runs if run.status == "executed"))

    def appointment_rescheduled(event: c.CloudEvent, tracking: Tracking) -> None:
        try:
            app.reschedule_appointment(
                event.tenantid, event.data.appointment_id, event.data.starts_at, now(), tracking
            )
        except InvalidMoment as error:
            raise Rejected(str(error)) from None

    def appointment_cancelled(event: c.CloudEvent, tracking: Tracking) -> None:
        app.cancel_appointment(event.tenantid, event.data.appointment_id, tracking)

    def document_list(event: c.CloudEvent, tracking: Tracking) -> None:
        data = event.data
        if len(event.source) > MAX_SOURCE_LENGTH:
            # Every requested document names it (requested_by): keep those records small.
            raise Rejected(f"source longer than {MAX_SOURCE_LENGTH} characters")
        try:
            app.receive_document_list(
                event.tenantid,
                _dossier(event),
                data.subject.model_dump(),
                data.reference,
                [item.model_dump() for item in data.items],
                received_from=event.source,
                tracking=tracking,
            )
        except DocumentListConflict as error:
            raise Rejected(str(error)) from None

    return {
        "ProductCreated": product("product_created"),
        "ApplicationSubmitted": product("application_submitted"),
        "AppointmentScheduled": appointment_scheduled,
        "AppointmentRescheduled": appointment_rescheduled,
        "AppointmentCancelled": appointment_cancelled,
        "DocumentListReceived": document_list,
    }
