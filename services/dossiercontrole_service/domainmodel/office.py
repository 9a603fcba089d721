"""The office-level aggregates of the dossier check: one of each per office (document types,
portal settings, reminder schedule), and the locator that finds a document's dossier."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from servicekit.domain import office_name
from services.dossiercontrole_service.domainmodel.identity import NAMESPACE, without_owner
from services.dossiercontrole_service.domainmodel.reminders import ReminderPlan
from shared.events.durations import Duration


class Locator(Aggregate):
    """Finds the dossier of a document or action point id, which the API addresses directly."""

    @staticmethod
    def create_id(key: UUID, **_: Any) -> UUID:
        return uuid5(NAMESPACE, f"locator:{key}")

    @event("Placed")
    def __init__(self, key: UUID, tenant: str, dossier_id: str) -> None:
        self.tenant = tenant
        self.dossier_id = dossier_id


@dataclass(frozen=True)
class DocumentType:
    """An office's settings of one document type (stuksoort), and what they decide for a
    request of it. A type nobody configured has the defaults (SPEC section 4)."""

    code: str
    name: str | None = None  # None: not configured
    creates_action_point: bool = True
    valid_for: str | None = None  # how long a delivered document stays valid (None: for good)
    rerequest_on_expiry: bool = False
    due_in: str | None = None  # the default due time of a request, from when it is requested

    def opens_action_point(self, asked: bool | None) -> bool:
        """Whether a request opens an action point: as it asked, else as the type says."""
        return self.creates_action_point if asked is None else asked

    def title(self, given: str | None) -> str:
        """A requested document's title: the request's, else the type's name, else its code
        made readable (``bank_statement``: "Bank statement")."""
        return given or self.name or self.code.replace("_", " ").capitalize()

    def due_at(self, requested_at: datetime, asked: datetime | None = None) -> datetime | None:
        """When a request of this type is due: the request's own due date, else the type's
        ``due_in`` counted from ``requested_at``, else never."""
        if asked is not None:
            return asked
        return Duration.parse(self.due_in).after(requested_at) if self.due_in else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DocumentTypes(Aggregate):
    """The office's document-type settings (stuksoorten): whether a type opens an action point,
    and its validity window, re-request on expiry and default due time."""

    class Event(Aggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(without_owner)

    class Opened(Aggregate.Created):
        class_version = 1  # the aggregate's identity
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NAMESPACE, office_name("document-types", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.types: dict[str, DocumentType] = {}

    class Configured(Event):
        # Class version 3 added the document cycle's settings (SPEC section 6).
        class_version = 3
        code: str
        name: str
        creates_action_point: bool
        by: str
        valid_for: str | None
        rerequest_on_expiry: bool
        due_in: str | None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.update(valid_for=None, rerequest_on_expiry=False, due_in=None)

    @event(Configured)
    def configure(
        self,
        code: str,
        name: str,
        creates_action_point: bool,
        by: str,
        valid_for: str | None = None,
        rerequest_on_expiry: bool = False,
        due_in: str | None = None,
    ) -> None:
        """A type's settings, replaced whole."""
        self.types[code] = DocumentType(
            code, name, creates_action_point, valid_for, rerequest_on_expiry, due_in
        )

    def type_of(self, code: str) -> DocumentType:
        """The settings of ``code``, or the defaults for a type nobody configured."""
        return self.types.get(code) or DocumentType(code)

    def configured(self) -> list[DocumentType]:
        """The types the office configured, by code."""
        return sorted(self.types.values(), key=lambda t: t.code)


class ProgressCounts(StrEnum):
    """What the client's progress counts as done (SPEC section 6, PortalSettingsChanged)."""

    RECEIVED = "received"  # a delivered document (uploaded or approved): the default
    APPROVED = "approved"  # only a document the adviser approved


class PortalSettings(Aggregate):
    """The office's choices for the client portal, which the portal projects."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NAMESPACE, office_name("portal-settings", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.progress_counts = ProgressCounts.RECEIVED

    def choose_progress_counts(self, progress_counts: ProgressCounts, by: str) -> None:
        """Changes nothing (and publishes nothing) when it is the office's choice already."""
        if progress_counts is not self.progress_counts:
            self._change_progress_counts(progress_counts, by)

    @event("ProgressCountsChosen")
    def _change_progress_counts(self, progress_counts: ProgressCounts, by: str) -> None:
        self.progress_counts = ProgressCounts(progress_counts)


class ReminderSchedule(Aggregate):
    """An office's reminder schedule (``ReminderPlan``), replaced whole by its admin."""

    class Opened(Aggregate.Created):
        tenant: str

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NAMESPACE, office_name("reminder-schedule", tenant))

    @event(Opened)
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.plan = ReminderPlan()

    @event("Changed")
    def change(
        self,
        before_due: list[str],
        on_due: bool,
        every_after_due: str | None,
        max_reminders: int,
        by: str,
    ) -> None:
        self.plan = ReminderPlan(tuple(before_due), on_due, every_after_due, max_reminders)
