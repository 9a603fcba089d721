"""Integration-event contracts of Actiepunten: envelopes, topics and the codec (SPEC section 3)."""

from shared.events import contracts, topics
from shared.events.codec import (
    CodecError,
    InvalidEvent,
    NotAnEvent,
    UnknownEventType,
    decode,
    encode,
    new_event,
)

__all__ = [
    "CodecError",
    "InvalidEvent",
    "NotAnEvent",
    "UnknownEventType",
    "contracts",
    "decode",
    "encode",
    "new_event",
    "topics",
]
