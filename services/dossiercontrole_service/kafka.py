"""What the dossier-check service publishes and consumes on Kafka.

Consumes DocumentRequested from ``actiepunten.scenario.v1``; publishes the document and
action-point facts on ``actiepunten.dossiercontrole.v1`` (``OUTBOX`` is the one mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker

from servicekit.consumer import BatchHandler, Handler, Rejected
from servicekit.outbox import Fact, Origin, OutboxMappings
from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.dossiercontrole_service.domainmodel import ActionPoint, Document, RequestIdInUse
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import explicit_action_point

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


OUTBOX = OutboxMappings(
    SOURCE, subject=lambda _, fact: str(fact.data.get("document_id") or fact.data.get("code"))
)
"""What each stored domain event publishes on ``PUBLISHES``: one function per event class."""

OUTBOX.silent(
    "DossierCheck.Opened",
    "DossierCheck.RequestMerged",
    "DocumentTypes.Opened",
    "Locator.Placed",
    "PortalSettings.Opened",
)
# The reminder schedule is the office's own setting; only the reminders it makes are published.
OUTBOX.silent("ReminderSchedule.Opened", "ReminderSchedule.Changed")
# Who downloaded which file is the dossier's own history, for nobody else (SPEC section 7).
OUTBOX.silent("AccessLog.Opened", "AccessLog.DocumentViewed")
# The office's retention periods, who uses a stored file, and that an erased dossier's files
# are deleted, are the dossier check's own bookkeeping (SPEC section 11).
OUTBOX.silent("RetentionPolicy.Opened", "RetentionPolicy.Changed")
OUTBOX.silent("FileUsers.Opened", "FileUsers.UserAdded", "FileUsers.UserLeft")
OUTBOX.silent("DossierCheck.ErasedFilesDeleted")


def _data(event: Any, origin: Origin | None, *names: str, **renamed: str) -> dict[str, Any]:
    """An integration event's data: the stored event's attributes ``names``, and ``renamed``
    (contract field = attribute), with the dossier of the event's aggregate when ``origin``."""
    data = {name: getattr(event, name) for name in names}
    data.update({field: getattr(event, attribute) for field, attribute in renamed.items()})
    return data if origin is None else {"dossier_id": origin.dossier_id, **data}


@OUTBOX.on("DocumentTypes.Configured")
def _configured(event: Any, _: Origin) -> Fact:
    settings = ("valid_for", "rerequest_on_expiry", "due_in")
    return Fact(
        c.DocumentTypeConfigured,
        _data(event, None, "code", "name", "creates_action_point", *settings),
    )


def _opened(
    event: Any, origin: Origin, subject: dict[str, Any], type_: str, title: str, **need: Any
) -> Fact:
    """ActionPointOpened for ``event``'s action point on a document of ``subject``, ``type_`` and
    ``title`` (and ``need``: its period and instructions); only a document requested again (on
    expiry) replaces one."""
    return Fact(
        c.ActionPointOpened,
        {
            **_data(event, origin, "action_point_id", "document_id"),
            "subject": subject,
            "document_type": type_,
            "title": title,
            "opened_at": event.at,
            "replaces_document_id": getattr(event, "replaces_document_id", None),
            "due_at": getattr(event, "due_at", None),
            **need,
        },
    )


@OUTBOX.on("DossierCheck.DocumentAdded")
def _document_added(event: Any, origin: Origin) -> list[Fact]:
    names = ("document_id", "request_id", "subject", "document_type", "title", "source")
    data = _data(event, origin, *names, "replaces_document_id")
    need = {"period": event.period, "instructions": event.instructions}
    added = Fact(c.DocumentAdded, {**data, "due_at": getattr(event, "due_at", None), **need})
    if event.action_point_id is None:
        return [added]
    return [added, _opened(event, origin, event.subject, event.document_type, event.title, **need)]


@OUTBOX.on("DossierCheck.ActionPointOpened")
def _point_opened(event: Any, origin: Origin) -> Fact:
    # A later request asked for the task that the open document did not have.
    document = _document_after(event, origin)
    subject = document.subject.as_dict()
    need = {"period": document.period, "instructions": document.instructions}
    return _opened(event, origin, subject, document.document_type, document.title, **need)


@OUTBOX.on("DossierCheck.DocumentUploaded")
def _uploaded(event: Any, origin: Origin) -> list[Fact]:
    uploaded = _data(
        event, origin, "document_id", "version", "file", "copied_from", uploaded_by="by"
    )
    uploaded["valid_until"] = getattr(event, "valid_until", None)
    more = getattr(event, "more_files", None)
    if more:
        uploaded["files"] = [event.file, *more]
    facts = [Fact(c.DocumentUploaded, uploaded)]
    if event.completes_action_point:
        completed = _data(
            event,
            origin,
            "document_id",
            action_point_id="completes_action_point",
            completed_at="at",
        )
        facts.append(Fact(c.ActionPointCompleted, completed))
    return facts


@OUTBOX.on("Deliveries.FilesAppended")
def _files_appended(event: Any, origin: Origin) -> Fact:
    # The version again, with all its files now: an upsert by (document, version).
    document = _document_after(event, origin)
    stored = document.files[event.version - 1]
    uploaded = _data(event, origin, "document_id", "version", uploaded_by="by")
    uploaded.update(
        file=stored.metadata(),
        files=[part.metadata() for part in stored.parts],
        copied_from=stored.copied_from,
        valid_until=document.valid_until,
    )
    return Fact(c.DocumentUploaded, uploaded)


# --- "not applicable" (SPEC section 9) -------------------------------------------------------


@OUTBOX.on("Claims.NotApplicableClaimed")
def _claimed(event: Any, origin: Origin) -> list[Fact]:
    names = ("document_id", "action_point_id", "note")
    claimed = _data(event, origin, *names, claimed_by="by", claimed_at="at")
    completed = _data(event, origin, "document_id", "action_point_id", completed_at="at")
    return [Fact(c.NotApplicableClaimed, claimed), Fact(c.ActionPointCompleted, completed)]


@OUTBOX.on("Claims.DocumentWaived")
def _waived(event: Any, origin: Origin) -> Fact:
    return Fact(
        c.DocumentWaived, _data(event, origin, "document_id", waived_by="by", waived_at="at")
    )


@OUTBOX.on("Claims.NotApplicableRefused")
def _claim_refused(event: Any, origin: Origin) -> list[Fact]:
    refused = _data(event, origin, "document_id", "reason", refused_by="by", refused_at="at")
    return [Fact(c.NotApplicableRefused, refused), *_reopened(event, origin)]


# --- the adviser's review ------------------------------------------------------------------------


@OUTBOX.on("DossierCheck.DocumentApproved")
def _approved(event: Any, origin: Origin) -> Fact:
    approved = _data(event, origin, "document_id", "version", approved_by="by", approved_at="at")
    return Fact(c.DocumentApproved, approved)


def _document_after(event: Any, origin: Origin) -> Document:
    """The event's document as the dossier check holds it right after the event: what a mapping
    needs beyond the event's own facts is read there, never from copies carried on the event."""
    document: Document = origin.state.documents[str(event.document_id)]
    return document


def _due_at_after(event: Any, origin: Origin) -> Any:
    """The due date of the event's document's action point after the event (a rejection does
    not carry it: it did not change it)."""
    point = _document_after(event, origin).action_point
    return point.due_at if point is not None else None


@OUTBOX.on("DossierCheck.DocumentRejected")
def _rejected(event: Any, origin: Origin) -> list[Fact]:
    rejected = _data(
        event, origin, "document_id", "version", "reason", rejected_by="by", rejected_at="at"
    )
    return [Fact(c.DocumentRejected, rejected), *_reopened(event, origin)]


def _reopened(event: Any, origin: Origin) -> list[Fact]:
    """The action point a rejection or a refused claim reopens, with the reason and its due
    date after the event (none when the point was not completed)."""
    if not event.reopens_action_point:
        return []
    reopened = _data(
        event,
        origin,
        "document_id",
        "reason",
        action_point_id="reopens_action_point",
        reopened_at="at",
    )
    reopened["due_at"] = _due_at_after(event, origin)
    return [Fact(c.ActionPointReopened, reopened)]


@OUTBOX.on("PortalSettings.ProgressCountsChosen")
def _progress_counts_chosen(event: Any, _: Origin) -> Fact:
    return Fact(
        c.PortalSettingsChanged,
        {"progress_counts": str(event.progress_counts)},
        subject="portal-settings",
    )


def _action_point_removed(event: Any, origin: Origin, action_point_id: Any, reason: str) -> Fact:
    removed = _data(event, origin, "document_id", removed_at="at")
    return Fact(
        c.ActionPointRemoved, {"action_point_id": action_point_id, **removed, "reason": reason}
    )


@OUTBOX.on("DossierCheck.DocumentRemoved")
def _document_removed(event: Any, origin: Origin) -> list[Fact]:
    removed = Fact(c.DocumentRemoved, _data(event, origin, "document_id", removed_by="by"))
    if not event.removes_action_point:
        return [removed]
    point = _action_point_removed(event, origin, event.removes_action_point, "document_removed")
    return [removed, point]


@OUTBOX.on("DossierCheck.ActionPointRemoved")
def _point_removed(event: Any, origin: Origin) -> Fact:
    return _action_point_removed(event, origin, event.action_point_id, "removed_by_adviser")


# --- a dossier's lifetime (SPEC section 11) ---------------------------------------------------


def _point_holder(origin: Origin, action_point_id: str) -> Document:
    """The document that holds the action point, in the dossier check after the event."""
    documents = origin.state.documents.values()
    return next(
        d
        for d in documents
        if d.action_point and str(d.action_point.action_point_id) == action_point_id
    )


@OUTBOX.on("DossierCheck.DossierClosed")
def _dossier_closed(event: Any, origin: Origin) -> list[Fact]:
    """DossierClosed, then an ActionPointRemoved (``dossier_closed``) per point it removed."""
    closed = _data(event, origin, "outcome", closed_by="by", closed_at="at")
    facts = [Fact(c.DossierClosed, closed, subject=origin.dossier_id)]
    for point_id in event.removes_action_points:
        removed = {
            "action_point_id": point_id,
            "document_id": _point_holder(origin, point_id).document_id,
            "dossier_id": origin.dossier_id,
            "removed_at": event.at,
            "reason": "dossier_closed",
        }
        facts.append(Fact(c.ActionPointRemoved, removed))
    return facts


@OUTBOX.on("DossierCheck.DossierReopened")
def _dossier_reopened(event: Any, origin: Origin) -> Fact:
    reopened = _data(event, origin, reopened_by="by", reopened_at="at")
    reopened["restored_action_point_ids"] = list(event.restores_action_points)
    return Fact(c.DossierReopened, reopened, subject=origin.dossier_id)


@OUTBOX.on("DossierCheck.DossierErased")
def _dossier_erased(event: Any, origin: Origin) -> Fact:
    erased = _data(event, origin, erased_by="by", erased_at="at")
    return Fact(c.DossierErased, erased, subject=origin.dossier_id)


@OUTBOX.on("DossierCheck.DocumentExpired")
def _expired(event: Any, origin: Origin) -> Fact:
    # The document requested again in its place (if any) is published by its DocumentAdded and
    # ActionPointOpened, stored (and published) right after this event.
    names = ("document_id", "valid_until", "rerequested_document_id")
    return Fact(c.DocumentExpired, _data(event, origin, *names))


@OUTBOX.on("DossierCheck.ActionPointOverdue")
def _overdue(event: Any, origin: Origin) -> Fact:
    names = ("action_point_id", "document_id", "due_at")
    return Fact(c.ActionPointOverdue, _data(event, origin, *names))


@OUTBOX.on("DossierCheck.ActionPointReminderDue")
def _reminder_due(event: Any, origin: Origin) -> Fact:
    document = _document_after(event, origin)
    point = document.action_point
    reminder = _data(event, origin, "action_point_id", "document_id", reminder_number="number")
    reminder.update(
        document_type=document.document_type,
        title=document.title,
        due_at=point.due_at if point is not None else None,
        requested_by=event.by,
        open_items=[_open_item(d, p) for d, p in origin.state.open_points()],
        portal_path=f"/app/dossiers/{quote(origin.dossier_id or '', safe='')}",
    )
    return Fact(c.ActionPointReminderDue, reminder)


def _open_item(document: Document, point: ActionPoint) -> dict[str, Any]:
    due_at = point.due_at.isoformat() if point.due_at else None
    return {
        "action_point_id": str(point.action_point_id),
        "document_type": document.document_type,
        "title": document.title,
        "due_at": due_at,
    }


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


def _request(event: c.CloudEvent, at: datetime) -> AddRequestedDocument:
    data = event.data
    return AddRequestedDocument(
        event.tenantid,
        data.dossier_id,
        data.request_id,
        data.subject.model_dump(),
        data.document_type,
        data.title,
        explicit_action_point(data.action_point),
        at,
        event.traceparent,
        data.source,
        data.due_at,
        data.period,
        data.instructions,
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
