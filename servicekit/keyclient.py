"""Opening the sealed personal fields of consumed events (SPEC section 11), as every platform
service reading our topics does: a dossier's data key from ``GET /dossiers/{id}/data-key`` of
the dossier-check service, with a ``service`` token of the event's office, kept in memory and
forgotten on ``DossierErased`` (after which the dossier check answers 410: the fields read as
``"[gewist]"``). A dossier check that does not answer is ``KeysUnavailable``, a
``ConnectionError``: the consumer retries the record (``servicekit.failures``), it never stores
a field it could not open.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from servicekit.auth import issue_token
from servicekit.crypto import is_sealed
from servicekit.sealing import GONE, Gone, open_published, published_context
from shared.events.personal import personal_values

log = logging.getLogger(__name__)

ERASURE = "DossierErased"
TOKEN_SECONDS = 3600


def has_sealed(event: Any) -> bool:
    """Whether ``event`` has a sealed personal field, or forgets a key (``DossierErased``)."""
    return event.type == ERASURE or any(is_sealed(v) for v in personal_values(event))


class KeysUnavailable(ConnectionError):
    """The dossier check did not give a key now (unreachable, or an error of its own)."""


class DataKeyClient:
    """Opens consumed events' sealed fields with their dossiers' keys."""

    def __init__(self, base_url: str, secret: str, *, name: str = "actiepunten") -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.name = name
        self._keys: dict[tuple[str, str], bytes | Gone] = {}
        self._tokens: dict[str, tuple[float, str]] = {}
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def open(self, events: Sequence[Any]) -> list[Any]:
        """``events`` with their personal fields opened; a ``DossierErased`` forgets the key
        (of what follows it too)."""
        opened: list[Any] = []
        for event in events:
            dossier = event.dossierid
            if event.type == ERASURE and dossier is not None:
                self._keys[(event.tenantid, dossier)] = GONE
            if dossier is not None and any(is_sealed(v) for v in personal_values(event)):
                key = await self.key(event.tenantid, dossier)
                event = open_published(event, key, published_context(event.tenantid, dossier))
            opened.append(event)
        return opened

    async def key(self, tenant: str, dossier_id: str) -> bytes | Gone:
        known = self._keys.get((tenant, dossier_id))
        if known is not None:
            return known
        async with self._lock:
            found, lasting = await self._fetch(tenant, dossier_id)
        if lasting:
            if len(self._keys) > 100_000:
                self._keys.clear()
            self._keys[(tenant, dossier_id)] = found
        return found

    def forget(self, tenant: str, dossier_id: str) -> None:
        self._keys.pop((tenant, dossier_id), None)

    async def _fetch(self, tenant: str, dossier_id: str) -> tuple[bytes | Gone, bool]:
        """The key (or ``GONE``), and whether it stays so."""
        url = f"{self.base_url}/dossiers/{quote(dossier_id, safe='')}/data-key"
        headers = {"Authorization": f"Bearer {self._token(tenant)}"}
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        try:
            response = await self._client.get(url, headers=headers)
        except httpx.HTTPError as error:
            raise KeysUnavailable(f"the dossier check's data keys ({url}): {error}") from None
        if response.status_code == 200:
            return base64.b64decode(response.json()["key"]), True
        if response.status_code in (404, 410):
            # Erased (410), for good; a dossier the dossier check does not know (404): nothing
            # opens now.
            return GONE, response.status_code == 410
        raise KeysUnavailable(
            f"the dossier check answered {response.status_code} for the data key of "
            f"{dossier_id}: {response.text[:200]}"
        )

    def _token(self, tenant: str) -> str:
        expires, token = self._tokens.get(tenant, (0.0, ""))
        if expires < time.time() + 60:
            token = issue_token(
                self.secret, sub=self.name, tenant=tenant, role="service", ttl_seconds=TOKEN_SECONDS
            )
            self._tokens[tenant] = (time.time() + TOKEN_SECONDS, token)
        return token

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
