"""What the dossier-check service publishes and consumes on Kafka.

Consumes DocumentRequested from ``actiepunten.scenario.v1``; publishes the document and
action-point facts on ``actiepunten.dossiercontrole.v1`` (``translate`` is the one mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import BatchHandler, Handler, Rejected
from servicekit.outbox import integration_event_id
from services.dossiercontrole_service.application import DocumentRequest, DossierChecks
from services.dossiercontrole_service.domainmodel import RequestIdInUse
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import explicit_action_point, new_event

SOURCE = "actiepunten/dossiercontrole_service"
PUBLISHES = topics.DOSSIERCONTROLE
CONSUMES = (topics.SCENARIO,)
DLQ = topics.DOSSIERCONTROLE_DLQ


def declare(broker: KafkaBroker) -> None:
    """Declare what the service publishes, for the generated AsyncAPI document."""
    broker.publisher(
        PUBLISHES,
        title=PUBLISHES,
        description="Documents of the dossier check and the client's action points",
        schema=c.DossiercontroleTopicEvent,
    )
    broker.publisher(DLQ, title=DLQ, description="Records the dossier check could not accept")


def translate(event: Any) -> list[c.CloudEvent]:
    """Internal aggregate event -> the integration events it publishes."""
    # Aggregate event classes are made by @event at run time: match them by name.
    name = type(event).__qualname__
    made: list[tuple[type[c.CloudEvent], dict[str, Any]]] = []
    if name == "DocumentTypes.Configured":
        made.append(
            (
                c.DocumentTypeConfigured,
                {
                    "code": event.code,
                    "name": event.name,
                    "creates_action_point": event.creates_action_point,
                },
            )
        )
        dossier_id = None
    elif name == "DossierCheck.DocumentAdded":
        dossier_id = event.dossier_id
        made.append(
            (
                c.DocumentAdded,
                {
                    "document_id": event.document_id,
                    "request_id": event.request_id,
                    "dossier_id": dossier_id,
                    "subject": event.subject,
                    "document_type": event.document_type,
                    "title": event.title,
                },
            )
        )
        if event.action_point_id is not None:
            made.append(
                (
                    c.ActionPointOpened,
                    {
                        "action_point_id": event.action_point_id,
                        "document_id": event.document_id,
                        "dossier_id": dossier_id,
                        "subject": event.subject,
                        "document_type": event.document_type,
                        "title": event.title,
                        "opened_at": event.at,
                    },
                )
            )
    elif name == "DossierCheck.ActionPointOpened":
        # A later request asked for the task that the open document did not have.
        dossier_id = event.dossier_id
        made.append(
            (
                c.ActionPointOpened,
                {
                    "action_point_id": event.action_point_id,
                    "document_id": event.document_id,
                    "dossier_id": dossier_id,
                    "subject": event.subject,
                    "document_type": event.document_type,
                    "title": event.title,
                    "opened_at": event.at,
                },
            )
        )
    elif name == "DossierCheck.DocumentUploaded":
        dossier_id = event.dossier_id
        made.append(
            (
                c.DocumentUploaded,
                {
                    "document_id": event.document_id,
                    "dossier_id": dossier_id,
                    "version": event.version,
                    "file": event.file,
                    "uploaded_by": event.by,
                    "copied_from": event.copied_from,
                },
            )
        )
        if event.completes_action_point:
            made.append(
                (
                    c.ActionPointCompleted,
                    {
                        "action_point_id": event.completes_action_point,
                        "document_id": event.document_id,
                        "dossier_id": dossier_id,
                        "completed_at": event.at,
                    },
                )
            )
    elif name == "DossierCheck.DocumentRemoved":
        dossier_id = event.dossier_id
        made.append(
            (
                c.DocumentRemoved,
                {
                    "document_id": event.document_id,
                    "dossier_id": dossier_id,
                    "removed_by": event.by,
                },
            )
        )
        if event.removes_action_point:
            made.append(
                (
                    c.ActionPointRemoved,
                    {
                        "action_point_id": event.removes_action_point,
                        "document_id": event.document_id,
                        "dossier_id": dossier_id,
                        "reason": "document_removed",
                        "removed_at": event.at,
                    },
                )
            )
    elif name == "DossierCheck.ActionPointRemoved":
        dossier_id = event.dossier_id
        made.append(
            (
                c.ActionPointRemoved,
                {
                    "action_point_id": event.action_point_id,
                    "document_id": event.document_id,
                    "dossier_id": dossier_id,
                    "reason": "removed_by_adviser",
                    "removed_at": event.at,
                },
            )
        )
    else:
        return []
    return [
        new_event(
            kind,
            data,
            source=SOURCE,
            tenant=event.tenant,
            dossier=dossier_id,
            subject=str(data.get("document_id") or data.get("code")),
            event_id=integration_event_id(event, index),
            time=event.timestamp,
            correlation_id=str(event.originator_id),
        )
        for index, (kind, data) in enumerate(made)
    ]


def handlers(
    app: DossierChecks, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> dict[str, Handler]:
    def document_requested(event: c.CloudEvent, tracking: Tracking) -> None:
        try:
            app.add_requested_documents([_request(event, now())], tracking)
        except RequestIdInUse as error:
            # Saving would conflict with the other dossier's records on every retry: the
            # partition would stall behind it. A faulty record belongs on the DLQ.
            raise Rejected(str(error)) from None

    return {"DocumentRequested": document_requested}


def _request(event: c.CloudEvent, at: datetime) -> DocumentRequest:
    data = event.data
    return DocumentRequest(
        event.tenantid,
        data.dossier_id,
        data.request_id,
        data.subject.model_dump(),
        data.document_type,
        data.title,
        explicit_action_point(data.action_point),
        at,
        event.traceparent,
    )


def batch_handler(
    app: DossierChecks, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> BatchHandler:
    """A consumed batch of DocumentRequested in one transaction. A request the dossier check
    refuses fails the whole batch; the consumer then takes its records one at a time, and the
    single handler dead-letters the one at fault."""

    def documents_requested(events: Sequence[c.CloudEvent], tracking: Tracking) -> None:
        at = now()
        app.add_requested_documents([_request(event, at) for event in events], tracking)

    return documents_requested
