"""Bytes on a topic to a validated event and back, with errors that say what is wrong."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from pydantic import TypeAdapter, ValidationError

from shared.events import contracts as c
from shared.events import topics

# Our largest events carry a scenario's items whole; anything near the broker's own limit
# (1 MiB) is a mistake or an attack, and must still fit a dead letter beside it.
MAX_RECORD_BYTES = 256 * 1024
# What a scenario's items may take as JSON in ScenarioDefined, ScenarioChanged and
# ScenarioScheduled; the scenario API refuses more. Everything else in those records is bounded
# by its own field limits: with every one of them at its largest (200-character office, ids and
# name of control characters JSON writes as 6 bytes each, a token subject filling the 16 KiB
# request head) a ScenarioScheduled is ~216 KB, under MAX_RECORD_BYTES. 200 items with titles
# of 300 two-byte characters (~150 KB) fit; the same with 4- or 6-byte characters do not.
MAX_SCENARIO_ITEMS_BYTES = 192 * 1024
_SCENARIO_ITEMS: TypeAdapter[tuple[c.RequestedItem, ...]] = TypeAdapter(tuple[c.RequestedItem, ...])


def scenario_items_bytes(items: Sequence[c.RequestedItem]) -> int:
    """How many bytes ``items`` take in a record (as ``encode`` writes them)."""
    return len(_SCENARIO_ITEMS.dump_json(tuple(items), exclude_none=True))


E = TypeVar("E", bound=c.CloudEvent)

_TOPIC_UNIONS: dict[str, Any] = {
    topics.SCENARIO: c.ScenarioTopicEvent,
    topics.DOSSIERCONTROLE: c.DossiercontroleTopicEvent,
    topics.PRODUCTS: c.ProductsTopicEvent,
    topics.APPOINTMENTS: c.AppointmentsTopicEvent,
    topics.DOCUMENT_LISTS: c.DocumentListsTopicEvent,
    topics.CLIENTS: c.ClientsTopicEvent,
    topics.NOTIFICATIONS: c.NotificationsTopicEvent,
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    topic: TypeAdapter(union) for topic, union in _TOPIC_UNIONS.items()
}
_ENVELOPE = TypeAdapter(c.CloudEvent)


def events_of(topic: str) -> Any:
    """The discriminated union of the events on ``topic`` (KeyError for a topic without one)."""
    return _TOPIC_UNIONS[topic]


def _types_of(union: Any) -> frozenset[str]:
    members = union.__origin__.__args__  # Annotated[A | B, Field] -> (A, B)
    return frozenset(m.model_fields["type"].default for m in members)


def _known_types(topic: str) -> frozenset[str]:
    union = _TOPIC_UNIONS[topic]
    if hasattr(union.__origin__, "__args__"):
        return _types_of(union)
    return frozenset({union.__origin__.model_fields["type"].default})


KNOWN_TYPES: dict[str, frozenset[str]] = {topic: _known_types(topic) for topic in _TOPIC_UNIONS}


class CodecError(Exception):
    """A record that cannot be accepted; ``reason`` is what a DLQ record carries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAnEvent(CodecError):
    """The bytes are not a CloudEvents envelope at all (not JSON, or envelope fields wrong)."""


class InvalidEvent(CodecError):
    """A known event type whose data fails validation."""


class UnknownEventType(CodecError):
    """A type this topic's contract does not know: skipped by a tolerant reader."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}")
        self.event_type = event_type


# --- schema evolution: the current ``dataversion`` per type and the steps up to it -------------

CURRENT_DATAVERSION: dict[str, int] = {"DocumentRequested": 2}


def _document_requested_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    explicit = data.get("action_point")
    if explicit is not None and not isinstance(explicit, bool):
        raise InvalidEvent(f"invalid DocumentRequested v1: action_point {explicit!r} is no boolean")
    return {**data, "action_point": action_point_rule(explicit)}


UPCASTERS: dict[tuple[str, int], Any] = {
    ("DocumentRequested", 1): _document_requested_v1_to_v2,
}


def action_point_rule(explicit: bool | None) -> str:
    """A request's ``action_point`` (true, false or absent) as DocumentRequested v2 names it."""
    if explicit is None:
        return "by_document_type"
    return "always" if explicit else "never"


def explicit_action_point(rule: str) -> bool | None:
    """The inverse of ``action_point_rule``: None leaves it to the document type."""
    return {"always": True, "never": False}.get(rule)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        location = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{location}: {item['msg']}")
    more = error.error_count() - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def decode(topic: str, raw: bytes | None) -> c.CloudEvent:
    """Validate one record of ``topic``; raises a ``CodecError`` subclass saying what is wrong."""
    if raw is None:
        raise NotAnEvent("record has no value")
    if len(raw) > MAX_RECORD_BYTES:
        raise NotAnEvent(f"record of {len(raw)} bytes exceeds the limit of {MAX_RECORD_BYTES}")
    adapter = _ADAPTERS.get(topic)
    if adapter is not None:
        # The common case, a valid record of the current shape: parsed and validated in one
        # pass by pydantic-core. Anything else takes the careful path below, which says why.
        try:
            event: c.CloudEvent = adapter.validate_json(raw)
        except ValidationError:
            pass
        else:
            if event.dataversion == CURRENT_DATAVERSION.get(event.type, 1):
                return event
    return _decode_carefully(topic, raw)


def _decode_carefully(topic: str, raw: bytes) -> c.CloudEvent:
    """``decode`` one step at a time: JSON, envelope, known type, upcasting, data."""
    try:
        document = json.loads(raw)
    except ValueError as error:
        # JSONDecodeError, UnicodeDecodeError, and integers longer than Python converts.
        raise NotAnEvent(f"not JSON: {error}") from None
    except RecursionError:
        # A few KB of brackets would otherwise escape as a crash and stall the partition.
        raise NotAnEvent("not JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise NotAnEvent(f"not a CloudEvents envelope: a JSON {type(document).__name__}")
    try:
        envelope = _ENVELOPE.validate_python(document)
    except ValidationError as error:
        raise NotAnEvent(f"not a CloudEvents envelope: {_describe(error)}") from None
    if envelope.type not in KNOWN_TYPES.get(topic, frozenset()):
        raise UnknownEventType(envelope.type)
    document = _upcast(envelope.type, envelope.dataversion, document)
    try:
        return _ADAPTERS[topic].validate_python(document)  # type: ignore[no-any-return]
    except ValidationError as error:
        raise InvalidEvent(f"invalid {envelope.type}: {_describe(error)}") from None


def _upcast(event_type: str, version: int, document: dict[str, Any]) -> dict[str, Any]:
    """Bring an older ``dataversion`` of the data up to the current one, step by step."""
    current = CURRENT_DATAVERSION.get(event_type, 1)
    if version > current:
        raise InvalidEvent(
            f"{event_type} dataversion {version} is newer than this reader knows ({current})"
        )
    if version == current:
        return document
    data = document.get("data")
    if not isinstance(data, dict):
        raise InvalidEvent(f"invalid {event_type}: data must be an object")
    while version < current:
        data = UPCASTERS[(event_type, version)](data)
        version += 1
    return {**document, "data": data, "dataversion": current}


def encode(event: c.CloudEvent) -> bytes:
    """The structured-mode JSON of an event."""
    return event.model_dump_json(exclude_none=True).encode()


def new_event(
    event_class: type[E],
    data: Any,
    *,
    source: str,
    tenant: str,
    dossier: str | None = None,
    subject: str | None = None,
    event_id: UUID | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> E:
    """Build a validated event of ``event_class``; ``data`` may be a model or a plain dict."""
    event_type = event_class.model_fields["type"].default
    return event_class.model_validate(
        {
            "dataversion": CURRENT_DATAVERSION.get(event_type, 1),
            "id": event_id or uuid4(),
            "source": source,
            "time": time or datetime.now(UTC),
            "subject": subject,
            "tenantid": tenant,
            "dossierid": dossier,
            "correlationid": correlation_id,
            "causationid": causation_id,
            "data": data,
        }
    )
