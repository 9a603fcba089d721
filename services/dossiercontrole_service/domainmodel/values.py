"""The dossier check's typed state: immutable value objects that a ``DossierCheck`` holds and a
snapshot stores (``VALUE_OBJECTS``; the application transcodes them)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit.domain import Person, Subject
from services.dossiercontrole_service.domainmodel.errors import (
    NewerVersionArrived,
    NoSuchVersion,
    VersionNotFound,
)
from services.dossiercontrole_service.domainmodel.statuses import (
    ACTION_POINT_MOVES,
    BY_THE_CLOCK,
    DOCUMENT_MOVES,
    ON_THE_ACTION_POINT,
    ActionPointCommand,
    ActionPointStatus,
    DocumentCommand,
    DocumentStatus,
)
from shared.events.durations import Duration


class Value:
    """A value object: immutable, so a copy of an aggregate (the repository deep-copies cached
    ones for each caller) shares it instead of copying it field by field."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


_METADATA = ("sha256", "size", "content_type", "filename")


@dataclass(frozen=True, slots=True)
class FilePart(Value):
    """One file of a version of several files (SPEC section 9: both sides of an ID card)."""

    sha256: str
    size: int
    content_type: str
    filename: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> FilePart:
        return cls(**{name: data[name] for name in _METADATA})

    def metadata(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _METADATA}


@dataclass(frozen=True, slots=True)
class StoredFile(Value):
    """One version of a document's file: its metadata; the bytes are in the blob store. A
    version of several files keeps its first in its own fields (what a single-file version
    always had) and the others in ``more``."""

    version: int
    sha256: str
    size: int
    content_type: str
    filename: str
    uploaded_at: datetime
    uploaded_by: str
    copied_from: UUID | None = None
    more: tuple[FilePart, ...] = ()

    @classmethod
    def of(cls, data: dict[str, Any]) -> StoredFile:
        copied_from = data.get("copied_from")
        return cls(
            **{name: data[name] for name in _FILE_FIELDS if name not in _OPTIONAL},
            copied_from=UUID(str(copied_from)) if copied_from else None,
            more=tuple(_of(FilePart, part) for part in data.get("more") or ()),
        )

    def metadata(self) -> dict[str, Any]:
        """What an upload event carries of its first file (and a copy reuses)."""
        return {key: getattr(self, key) for key in _METADATA}

    @property
    def parts(self) -> tuple[FilePart, ...]:
        """Every file of the version, in the order they were delivered (part 1 first)."""
        return (FilePart.of(self.metadata()), *self.more)

    def part(self, number: int) -> FilePart:
        """Part ``number`` (1-based) of the version; ``VersionNotFound`` past its last."""
        if not 1 <= number <= len(self.more) + 1:
            raise VersionNotFound(f"version {self.version} has no part {number}")
        return self.parts[number - 1]

    @property
    def size_of_parts(self) -> int:
        return self.size + sum(part.size for part in self.more)


_FILE_FIELDS = tuple(f.name for f in fields(StoredFile))
_OPTIONAL = ("copied_from", "more")


@dataclass(frozen=True, slots=True)
class ActionPoint(Value):
    """The client's task for a document (actiepunt voor klant)."""

    action_point_id: UUID
    status: ActionPointStatus
    created_at: datetime
    completed_at: datetime | None = None
    # Due dates and reminders (SPEC section 6).
    due_at: datetime | None = None
    overdue: bool = False  # set by the scheduler once ``due_at`` passed while open
    reminders: int = 0  # reminders sent, scheduled or asked for: the last reminder_number
    reminded_for: datetime | None = None  # the schedule's moment of the last scheduled one

    @classmethod
    def of(cls, data: dict[str, Any]) -> ActionPoint:
        return cls(
            UUID(str(data["action_point_id"])),
            ActionPointStatus(data["status"]),
            data["created_at"],
            data.get("completed_at"),
            data.get("due_at"),
            bool(data.get("overdue", False)),
            int(data.get("reminders", 0)),
            data.get("reminded_for"),
        )

    @property
    def current(self) -> bool:
        """Open or completed: shown to the adviser and the client; a removed one is not."""
        return self.status is not ActionPointStatus.REMOVED

    def moved(self, command: ActionPointCommand, at: datetime) -> ActionPoint:
        becomes = ACTION_POINT_MOVES.get((self.status, command))
        if becomes is None:
            return self
        if becomes is ActionPointStatus.COMPLETED:
            completed_at: datetime | None = at
        elif becomes is ActionPointStatus.OPEN:
            completed_at = None  # reopened
        else:
            completed_at = self.completed_at
        return replace(self, status=becomes, completed_at=completed_at)

    def no_longer_overdue(self) -> ActionPoint:
        """A completed point is not overdue; reopened past its due date, the
        scheduler marks it overdue again."""
        return replace(self, overdue=False) if self.overdue else self


@dataclass(frozen=True, slots=True)
class Document(Value):
    """A requested document (stuk) of the dossier check, with its files and action point."""

    document_id: UUID
    request_id: UUID
    subject: Subject
    document_type: str
    title: str
    status: DocumentStatus
    created_at: datetime
    action_point: ActionPoint | None = None
    files: tuple[StoredFile, ...] = ()
    removed: bool = False
    rejection_reason: str | None = None  # while rejected: what the client must deliver instead
    valid_until: datetime | None = None  # of the latest delivery, by its type's ``valid_for``
    source: str | None = None  # scenario, manual, document_list, expired; None: stored before
    replaces_document_id: UUID | None = None  # the expired document this one requests again
    due_at: datetime | None = None  # when the client should have delivered it
    period: str | None = None  # what it covers in time ("2024"): part of what it is (SPEC 9)
    instructions: str | None = None  # the adviser's note to the client
    note: str | None = None  # while claimed "not applicable" (or waived): the client's note

    @classmethod
    def of(cls, data: dict[str, Any]) -> Document:
        """A document as a snapshot of the first class version kept it (a dict)."""
        point = data.get("action_point")
        return cls(
            document_id=UUID(str(data["document_id"])),
            request_id=UUID(str(data["request_id"])),
            subject=_of(Subject, data["subject"]),
            document_type=data["document_type"],
            title=data["title"],
            status=DocumentStatus(data["status"]),
            created_at=data["created_at"],
            action_point=_of(ActionPoint, point) if point else None,
            files=tuple(_of(StoredFile, f) for f in data.get("files", ())),
            removed=bool(data.get("removed")),
            rejection_reason=data.get("rejection_reason"),
            valid_until=data.get("valid_until"),
            source=data.get("source"),
            replaces_document_id=_uuid_or_none(data.get("replaces_document_id")),
            due_at=data.get("due_at"),
            note=data.get("note"),
            period=data.get("period"),
            instructions=data.get("instructions"),
        )

    def is_need(self, subject: Subject, document_type: str, period: str | None) -> bool:
        """Whether this is the document a request of ``document_type`` for ``subject`` (its
        product or appointment and person) and ``period`` asks for: only all four together make
        one document (SPEC section 9)."""
        return (
            self.subject == subject
            and self.document_type == document_type
            and self.period == period
        )

    @property
    def current_action_point(self) -> ActionPoint | None:
        point = self.action_point
        return point if point is not None and point.current else None

    def allowed_commands(self) -> list[DocumentCommand]:
        """The commands the document's status allows (``DOCUMENT_MOVES``)."""
        return [
            command
            for command in DocumentCommand
            if (self.status, command) in DOCUMENT_MOVES
            and command not in BY_THE_CLOCK | ON_THE_ACTION_POINT
        ]

    def file_of(self, version: int | None = None) -> StoredFile:
        """The file of ``version`` (None: the latest); a copy is a version too."""
        if not self.files:
            raise VersionNotFound(f"document {self.document_id} has no file yet")
        number = len(self.files) if version is None else version
        if not 1 <= number <= len(self.files):
            raise VersionNotFound(f"document {self.document_id} has no version {number}")
        return self.files[number - 1]  # versions count from 1, in the order they arrived

    def reviewed(self, version: int | None) -> int:
        """The version a review decides on: the latest. One that is no longer the latest (the
        client delivered again since the adviser looked) is refused, and nothing changes."""
        latest = len(self.files)
        if version is None or version == latest:
            return latest
        if version > latest:
            raise NoSuchVersion(f"document {self.document_id} has no version {version}")
        raise NewerVersionArrived("a newer version arrived")

    @property
    def asks_the_client(self) -> bool:
        """Whether the client may deliver it (SPEC section 7): its action point is current (open,
        or completed: a new version) and its status takes an upload (``DOCUMENT_MOVES``), which
        an approved or expired document does not."""
        return (
            self.current_action_point is not None
            and (self.status, DocumentCommand.UPLOAD) in DOCUMENT_MOVES
        )

    def rejected(self, reason: str, at: datetime, reopens_action_point: str | None) -> Document:
        """The document after a rejection of its delivery or a refusal of its claim: the
        ``REJECT`` move of ``DOCUMENT_MOVES``, the reason kept for the client, and its action
        point reopened when the event says so."""
        move = DOCUMENT_MOVES[(self.status, DocumentCommand.REJECT)]
        point = self.action_point
        if reopens_action_point and point is not None:
            point = point.moved(ActionPointCommand.REOPEN, at)
        return replace(
            self,
            status=move.becomes or self.status,
            action_point=point,
            rejection_reason=reason,
        )

    def action_point_would(self, command: ActionPointCommand) -> UUID | None:
        """The id of the action point that ``command`` would move, if the table allows it."""
        point = self.action_point
        if point is None or (point.status, command) not in ACTION_POINT_MOVES:
            return None
        return point.action_point_id


def _uuid_or_none(value: Any) -> UUID | None:
    return UUID(str(value)) if value else None


def _of(cls: Any, value: Any) -> Any:
    """``value`` as a ``cls``: as it is, or made from a dict (an old snapshot's, or JSON)."""
    return value if isinstance(value, cls) else cls.of(value)


def validity_end(delivered_at: datetime, valid_for: str | None) -> datetime | None:
    """The end of a delivered document's validity window: the delivery's moment plus its type's
    ``valid_for`` (ISO 8601; months by the calendar, so 31 January plus ``P1M`` is 28 or 29
    February); None for a type without a window."""
    return Duration.parse(valid_for).after(delivered_at) if valid_for else None


VALUE_OBJECTS: tuple[type, ...] = (Person, Subject, FilePart, StoredFile, ActionPoint, Document)
"""The value objects a snapshot of a ``DossierCheck`` holds (``application`` transcodes them)."""
