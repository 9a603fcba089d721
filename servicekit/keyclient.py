"""Opening the sealed personal fields of consumed events (SPEC section 11), as every platform
service reading our topics does: the dossiers' data keys from ``POST /data-keys`` of the
dossier-check service (``GET /dossiers/{id}/data-key`` gives one), a batch's at once, with a
``service`` token of the event's office, kept in memory and forgotten on ``DossierErased``
(the dossier check then lists the dossier as erased: its fields read as ``"[gewist]"``). A
dossier check that does not answer is ``KeysUnavailable``, a ``ConnectionError``: the consumer
retries the record (``servicekit.failures``), it never stores a field it could not open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from servicekit.crypto import is_sealed
from servicekit.sealed_events import (
    GONE,
    Gone,
    KeysUnreachable,
    Recent,
    ServiceTokens,
    keys_in,
    open_published,
    published_context,
)
from shared.events.personal import personal_values

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

ERASURE = "DossierErased"
MAX_AT_ONCE = 1000  # dossiers a ``POST /data-keys`` asks for


def has_sealed(event: Any) -> bool:
    """Whether ``event`` has a sealed personal field, or forgets a key (``DossierErased``)."""
    return event.type == ERASURE or any(is_sealed(v) for v in personal_values(event))


class KeysUnavailable(KeysUnreachable):
    """The dossier check did not give a key now (unreachable, or an error of its own)."""


class DataKeyClient:
    """Opens consumed events' sealed fields with their dossiers' keys."""

    def __init__(self, base_url: str, secret: str, *, name: str = "actiepunten") -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.name = name
        self._keys: Recent[tuple[str, str], bytes | Gone] = Recent()
        self._tokens = ServiceTokens(secret, name)
        self._client: httpx.AsyncClient | None = None

    async def open(self, events: Sequence[Any]) -> list[Any]:
        """``events`` with their personal fields opened, the keys they lack asked for at once
        (``POST /data-keys``); a ``DossierErased`` forgets its dossier's key (a sealed field
        of it in the same batch reads as erased: its key is gone)."""
        wanted: dict[str, set[str]] = {}
        for event in events:
            dossier = event.dossierid
            if dossier is None:
                continue
            if event.type == ERASURE:
                self._keep((event.tenantid, dossier), GONE)
            elif (event.tenantid, dossier) not in self._keys and any(
                is_sealed(v) for v in personal_values(event)
            ):
                wanted.setdefault(event.tenantid, set()).add(dossier)
        unknown: dict[tuple[str, str], Gone] = {}
        for tenant, dossiers in wanted.items():
            ordered = sorted(dossiers)
            for start in range(0, len(ordered), MAX_AT_ONCE):
                missing = await self._fetch(tenant, ordered[start : start + MAX_AT_ONCE])
                unknown.update({(tenant, dossier): GONE for dossier in missing})
        opened: list[Any] = []
        for event in events:
            dossier = event.dossierid
            if dossier is not None and any(is_sealed(v) for v in personal_values(event)):
                where = (event.tenantid, dossier)
                key = self._keys.get(where) or unknown.get(where, GONE)
                event = open_published(event, key, published_context(event.tenantid, dossier))
            opened.append(event)
        return opened

    def forget(self, tenant: str, dossier_id: str) -> None:
        self._keys.pop((tenant, dossier_id), None)

    def _keep(self, where: tuple[str, str], key: bytes | Gone) -> None:
        self._keys[where] = key

    async def _fetch(self, tenant: str, dossiers: list[str]) -> list[str]:
        """Keep the keys of ``dossiers`` (erased ones as ``GONE``); those the dossier check
        does not know (nothing of theirs opens now, and they are asked again)."""
        url = f"{self.base_url}/data-keys"
        headers = {"Authorization": f"Bearer {self._tokens.of(tenant)}"}
        import httpx  # on first use: a replay that meets no sealed field starts without it

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30)
        try:
            response = await self._client.post(url, headers=headers, json={"dossier_ids": dossiers})
        except httpx.HTTPError as error:
            raise KeysUnavailable(f"the dossier check's data keys ({url}): {error}") from None
        if response.status_code != 200:
            raise KeysUnavailable(
                f"the dossier check answered {response.status_code} for data keys: "
                f"{response.text[:200]}"
            )
        answer = response.json()
        for dossier, key in keys_in(answer).items():
            self._keep((tenant, dossier), key)
        return list(answer["unknown"])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
