"""Personal fields sealed where they are kept for good: a store's events and snapshots, and the
integration events on our topics (SPEC section 11, crypto-shredding).

An aggregate that holds a dossier's personal data has a data key (``KeyRing``); every event and
snapshot of it is stored with its personal fields sealed (``servicekit.crypto``, the aggregate's
id as associated data) and read with them opened. The outbox publishes them sealed with the
same key (``<tenant>:<dossier>`` as associated data, the contract ``GET
/dossiers/{id}/data-key`` documents). Once the key is destroyed the stored events are unchanged
and every reading of them, here and from the topics, gives ``"[gewist]"``.

Which fields are personal: on the topics ``shared.events.personal.PERSONAL``; in a store's state
(any depth, events and snapshots alike) the attribute names of ``STORED_PERSONAL``, checked
against a dossier's every stored event by ``tests/unit/test_sealing.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, Recording, StoredEvent

from servicekit.crypto import ERASED, SEALED_PREFIX, reveal, seal_once
from servicekit.eventstore import TracingMapper, TrackedApplication
from servicekit.sealed_events import (  # noqa: F401 (re-exported)
    GONE,
    Gone,
    KeysUnreachable,
    open_published,
    published_context,
    seal_published,
)
from shared.events.contracts import CloudEvent
from shared.events.personal import personal_values

STORED_PERSONAL = frozenset(
    {"title", "instructions", "reason", "rejection_reason", "note", "filename"}
)
"""Attribute names whose text is personal in the stored state of an aggregate with a key."""

STORED_NOT_PERSONAL = frozenset(
    {
        # ids, codes, statuses, moments, durations, actors (``<role>:<sub>``), periods
        "_type_", "_data_", "tenant", "dossier_id", "id", "type", "scope", "role", "topic",
        "document_type", "status", "sha256", "content_type", "source", "by", "uploaded_by",
        "period", "valid_for", "due_in", "outcome", "decision", "completes_action_point",
        "reopens_action_point", "originator_topic", "_traceparent", "closed_by", "reopened_by",
        "erased_by", "reminded_for", "requested_by", "claimed_by", "document_id", "request_id",
        "action_point_id", "removes_action_point", "due_at",
    }
)  # fmt: skip
"""The other attribute names that hold text in those states (every one is either)."""


def _personal_text(personal: frozenset[str]) -> re.Pattern[bytes]:
    return re.compile(rb'"(?:' + b"|".join(n.encode() for n in sorted(personal)) + rb')":"')


_PERSONAL_TEXT = {STORED_PERSONAL: _personal_text(STORED_PERSONAL)}
_SEALED_TEXT = b'"' + SEALED_PREFIX.encode()


class KeyRing(Protocol):
    """The data keys of a store's aggregates, as its mapper and outbox ask for them."""

    def key_of(self, aggregate_id: UUID, *, fresh: bool = False) -> bytes | Gone | None:
        """The aggregate's key; ``GONE`` once erased; None for an aggregate without personal
        data (and one stored before keys, until it is saved again). ``fresh``: not from memory
        (a sealed value met where the key was not known yet: another replica made it)."""

    def ensure(self, aggregates: Sequence[Any]) -> None:
        """Give each of ``aggregates`` (those of one save) that holds personal data a key
        before their events are stored: at once, as a ring that asks another service for keys
        asks once per save."""

    def published_key(self, tenant: str, dossier_id: str) -> bytes | Gone | None:
        """The dossier's key for its integration events (None: it has none)."""


def _walk(
    value: Any, change: Callable[[str], str], names: frozenset[str], personal: bool = False
) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, change, names, k in names) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(item, change, names, personal) for item in value]
    if personal and isinstance(value, str):
        return change(value)
    return value


def _rewritten(
    state: bytes, change: Callable[[str], str], personal: frozenset[str] = STORED_PERSONAL
) -> bytes:
    walked = _walk(json.loads(state), change, personal)
    return json.dumps(walked, ensure_ascii=False, separators=(",", ":")).encode()


def has_personal(state: bytes, personal: frozenset[str] = STORED_PERSONAL) -> bool:
    """Whether a stored state (JSON) has text under one of the attribute names ``personal``."""
    pattern = _PERSONAL_TEXT.get(personal)
    if pattern is None:
        pattern = _PERSONAL_TEXT.setdefault(personal, _personal_text(personal))
    return pattern.search(state) is not None


def seal_state(
    state: bytes, key: bytes | Gone, context: str, personal: frozenset[str] = STORED_PERSONAL
) -> bytes:
    """A stored event's state (JSON) with its personal fields (the attribute names
    ``personal``, the dossier check's by default) sealed (erased: ``ERASED``)."""
    if not has_personal(state, personal):
        return state

    def sealed(text: str) -> str:
        if isinstance(key, Gone) or text == ERASED:
            return ERASED
        return seal_once(key, text, context)

    return _rewritten(state, sealed, personal)


def open_state(
    state: bytes,
    key: bytes | Gone | None,
    context: str,
    personal: frozenset[str] = STORED_PERSONAL,
) -> bytes:
    """A stored event's state with its sealed fields opened (``ERASED`` without the key)."""
    if _SEALED_TEXT not in state:
        return state
    known = key if isinstance(key, bytes) else None
    return _rewritten(state, lambda text: reveal(known, text, context), personal)


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class SealingMapper(TracingMapper):
    """Stores the personal fields of an aggregate with a key sealed, and reads them opened."""

    ring: KeyRing | None = None
    personal: frozenset[str] = STORED_PERSONAL

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        if self.ring is None:
            return stored
        assert not (self.compressor or self.cipher), "sealing reads the state as JSON"
        if not has_personal(stored.state, self.personal):
            return stored  # no key asked for: most events (a locator's) have no personal text
        key = self.ring.key_of(_uuid(stored.originator_id))
        if key is None:
            return stored
        state = seal_state(stored.state, key, str(stored.originator_id), self.personal)
        if state is stored.state:
            return stored
        return StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if self.ring is not None and _SEALED_TEXT in stored_event.state:
            originator_id = _uuid(stored_event.originator_id)
            key = self.ring.key_of(originator_id)
            if key is None:
                key = self.ring.key_of(originator_id, fresh=True)
            state = open_state(
                stored_event.state, key, str(stored_event.originator_id), self.personal
            )
            stored_event = StoredEvent(
                stored_event.originator_id,
                stored_event.originator_version,
                stored_event.topic,
                state,
            )
        return super().to_domain_event(stored_event)


class SealedApplication(TrackedApplication):
    """A ``TrackedApplication`` whose aggregates with personal data have keys: their stored
    events are sealed (``SealingMapper``) and so are the integration events its outbox
    translates (``seal_published``). ``construct_key_ring`` says where the keys are,
    ``stored_personal`` which attribute names of its stored state are personal."""

    keys: KeyRing
    stored_personal: frozenset[str] = STORED_PERSONAL

    def construct_key_ring(self) -> KeyRing:
        raise NotImplementedError

    def construct_mapper(self) -> Mapper[UUID]:
        self.keys = self.construct_key_ring()
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=SealingMapper
        )
        assert isinstance(mapper, SealingMapper)
        mapper.ring = self.keys
        mapper.personal = self.stored_personal
        return mapper

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        self.keys.ensure(list(processing_event.aggregates.values()))
        return super()._record(processing_event)

    def seal_published(self, event: CloudEvent) -> CloudEvent:
        """An integration event of this store, its personal fields sealed with its dossier's
        key (as it is: an event of no dossier, or of one without a key)."""
        if event.dossierid is None or not any(personal_values(event)):
            return event  # nothing to seal: no key asked for (a ring may ask another service)
        key = self.keys.published_key(event.tenantid, event.dossierid)
        if key is None:
            return event
        return seal_published(event, key, published_context(event.tenantid, event.dossierid))
