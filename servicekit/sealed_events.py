"""Sealed personal fields of integration events (SPEC section 11): sealing them as the outbox
publishes, opening them as a consumer reads. Light on imports: a replay loads it.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from typing import Any, TypeVar

from servicekit.crypto import ERASED, reveal, seal_once
from shared.events.contracts import CloudEvent
from shared.events.personal import with_personal_fields

K = TypeVar("K")
V = TypeVar("V")

MAX_KEPT = 10_000
"""Keys (and owners of aggregates) a process keeps in memory: the most recently used ones. A
consumer's batch names at most a few hundred dossiers; keeping up to 100,000 grew a consumer by
about 23 MiB over as many dossiers (P4 of issue 21)."""


class Recent(OrderedDict[K, V]):
    """A mapping of at most ``size`` entries: the least recently used one goes first. Each
    call is safe from several threads (a race at worst forgets an entry early)."""

    def __init__(self, size: int = MAX_KEPT) -> None:
        super().__init__()
        self.size = size

    def get(self, key: K, default: Any = None) -> Any:
        try:  # no ``contextlib.suppress``: this is on every stored event's path
            value = self[key]
            self.move_to_end(key)
        except KeyError:
            return default
        return value

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        try:
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)
        except KeyError:
            pass


class KeysUnreachable(ConnectionError):
    """The service that keeps the data keys did not give one now (unreachable, or an error of
    its own): a consumer retries the record, a relay its batch, an HTTP command answers 503.
    Nothing is stored or published in plain text in its place."""


class Gone:
    """The key of an erased dossier: its personal fields read (and are written) as erased."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()


def published_context(tenant: str, dossier_id: str) -> str:
    """The associated data of a dossier's sealed integration-event fields."""
    return f"{tenant}:{dossier_id}"


def seal_published(event: CloudEvent, key: bytes | Gone, context: str) -> CloudEvent:
    """An integration event with its personal fields (``PERSONAL``) sealed."""

    def sealed(text: str) -> str:
        if isinstance(key, Gone) or text == ERASED:
            return ERASED
        return seal_once(key, text, context)

    sealed_event: CloudEvent = with_personal_fields(event, sealed)
    return sealed_event


def open_published(event: Any, key: bytes | Gone | None, context: str) -> Any:
    """An integration event (a contract's model or native struct) with its sealed personal
    fields opened: the plain text with the dossier's key, ``ERASED`` without it."""
    known = key if isinstance(key, bytes) else None
    return with_personal_fields(event, lambda text: reveal(known, text, context))


TOKEN_SECONDS = 3600


class ServiceTokens:
    """``service`` tokens of this service for each office, signed with the JWT secret, made
    again a minute before they expire: how our services ask the dossier check for keys."""

    def __init__(self, secret: str, name: str) -> None:
        self.secret = secret
        self.name = name
        self._tokens: dict[str, tuple[float, str]] = {}

    def of(self, tenant: str) -> str:
        expires, token = self._tokens.get(tenant, (0.0, ""))
        if expires < time.time() + 60:
            from servicekit.auth import issue_token  # fastapi's: not for a replay's start

            token = issue_token(
                self.secret, sub=self.name, tenant=tenant, role="service", ttl_seconds=TOKEN_SECONDS
            )
            self._tokens[tenant] = (time.time() + TOKEN_SECONDS, token)
        return token


def keys_in(answer: dict[str, Any]) -> dict[str, bytes | Gone]:
    """The keys of a ``POST /data-keys`` answer by dossier, ``GONE`` for an erased one."""
    found: dict[str, bytes | Gone] = {
        dossier: base64.b64decode(key) for dossier, key in answer["keys"].items()
    }
    found.update({dossier: GONE for dossier in answer["erased"]})
    return found
