"""A hash chain over stored events (SPEC section 11, the evidence pack).

Each link is the SHA-256 of the previous link and the event's stored record, exactly as the
recorder holds it: originator id, version, topic and the state's bytes, never a re-encoding of
the decoded event. So the chain stays the same whatever happens to the meaning of those bytes:
sealed personal fields that can no longer be opened after an erasure hash as they were stored.
The first link's previous is 32 zero bytes.

The record is framed without ambiguity: each field as a 4-byte big-endian length and its
bytes (the originator id as its canonical text, the version in decimal digits, the topic in
UTF-8, the state as stored), after the previous link:

    link = SHA-256(previous || len(id) id || len(version) version || len(topic) topic
                   || len(state) state)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

GENESIS = bytes(32)
"""The previous link of the first event."""


class Record(NamedTuple):
    """A stored event as the recorder holds it."""

    originator_id: str
    version: int
    topic: str
    state: bytes

    @classmethod
    def of(cls, stored: Any) -> Record:
        """From an eventsourcing ``StoredEvent`` (its id a UUID or its text)."""
        return cls(
            str(stored.originator_id),
            int(stored.originator_version),
            str(stored.topic),
            bytes(stored.state),
        )


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def link(previous: bytes, record: Record) -> bytes:
    """The link after ``previous`` for ``record``."""
    digest = hashlib.sha256(previous)
    digest.update(_framed(record.originator_id.encode()))
    digest.update(_framed(str(record.version).encode()))
    digest.update(_framed(record.topic.encode()))
    digest.update(_framed(record.state))
    return digest.digest()


def links(records: Iterable[Record], previous: bytes = GENESIS) -> Iterator[bytes]:
    """The link of each record in turn."""
    for record in records:
        previous = link(previous, record)
        yield previous


def last_link(records: Iterable[Record]) -> bytes:
    """The chain's last link (``GENESIS`` for no records)."""
    last = GENESIS
    for record in records:
        last = link(last, record)
    return last
