"""The dossier-check service's HTTP API for a dossier's lifetime (SPEC section 11): closing,
reopening and erasing a dossier, and the office's retention policy. The rest of the API is
``http.py``; both routers are the same service."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.data_keys import DataKeys
from services.dossiercontrole_service.domainmodel import DossierCheck, Outcome, RetentionPolicy
from services.dossiercontrole_service.lifecycle import (
    CloseDossier,
    EraseDossier,
    ReopenDossier,
    SetRetentionPolicy,
)
from services.dossiercontrole_service.retention import Erasure
from shared.events.durations import Duration, IsoDuration

router = APIRouter(responses=AUTHENTICATED, tags=["dossier lifetime"])
Adviser = Annotated[Identity, Depends(require("adviser"))]
Admin = Annotated[Identity, Depends(require("admin"))]
Service = Annotated[Identity, Depends(require("service"))]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome = Field(
        description="How the relationship ended: `completed`, `withdrawn` or `declined`; the "
        "office's retention period for it runs from the closing."
    )


class DossierOut(BaseModel):
    """Whether a dossier is open or closed, and how it ended."""

    dossier_id: str
    status: Literal["open", "closed", "erased"]
    outcome: Outcome | None
    closed_at: AwareDatetime | None
    erased_at: AwareDatetime | None = None

    @classmethod
    def of(cls, check: DossierCheck) -> DossierOut:
        status: Literal["open", "closed", "erased"] = "closed" if check.closed else "open"
        return cls(
            dossier_id=check.dossier_id,
            status="erased" if check.erased_at else status,
            outcome=Outcome(check.outcome) if check.outcome else None,
            closed_at=check.closed_at,
            erased_at=check.erased_at,
        )


MAX_RETENTION_MONTHS = 100 * 12


def _positive(text: str) -> str:
    duration = Duration.parse(text)
    if duration.months <= 0 and duration.span <= timedelta(0):
        raise ValueError("a retention period must be longer than zero")
    if duration.months + duration.span.days // 28 > MAX_RETENTION_MONTHS:
        raise ValueError("a retention period is at most a hundred years")
    return text


Period = Annotated[IsoDuration, AfterValidator(_positive)]


class RetentionPolicyBody(BaseModel):
    """How long a closed dossier is kept, by its outcome, counted from its closing; then it is
    erased. Defaults: `{"completed": "P5Y", "withdrawn": "P1Y", "declined": "P30D"}`."""

    model_config = ConfigDict(extra="forbid")
    completed: Period
    withdrawn: Period
    declined: Period

    @classmethod
    def of(cls, policy: RetentionPolicy) -> RetentionPolicyBody:
        return cls.model_validate(policy.periods)


def _app(request: Request) -> DossierChecks:
    return request.app.state.application  # type: ignore[no-any-return]


@router.post(
    "/dossiers/{dossier_id}/close",
    response_model=DossierOut,
    responses=errors(400, 404, 409, 413),
)
async def close_dossier(
    dossier_id: str, body: CloseIn, who: Adviser, request: Request
) -> DossierOut:
    """Close the dossier with its outcome: its open action points leave the portal (reason
    `dossier_closed`), reminders stop, `DossierClosed` is published. 409 when it is closed
    already; 404 when nothing was ever requested in it."""
    command = CloseDossier(who.tenant, dossier_id, body.outcome, who.actor, datetime.now(UTC))
    check = await asyncio.to_thread(_app(request).close_dossier, command)
    return DossierOut.of(check)


@router.post(
    "/dossiers/{dossier_id}/reopen",
    response_model=DossierOut,
    responses=errors(404, 409),
)
async def reopen_dossier(dossier_id: str, who: Adviser, request: Request) -> DossierOut:
    """Reopen a closed dossier: the action points its closing removed are open again
    (`DossierReopened`). 409 when it is open."""
    command = ReopenDossier(who.tenant, dossier_id, who.actor, datetime.now(UTC))
    check = await asyncio.to_thread(_app(request).reopen_dossier, command)
    return DossierOut.of(check)


@router.post(
    "/dossiers/{dossier_id}/erase",
    response_model=DossierOut,
    responses=errors(404, 409),
)
async def erase_dossier(dossier_id: str, who: Admin, request: Request) -> DossierOut:
    """Erase a closed dossier now (admin): its documents leave the dossier check, its files
    that no other dossier uses are deleted, `DossierErased` is published and the portal, the
    work queue and the contacts drop it. 409 when it is open or was erased already."""
    command = EraseDossier(who.tenant, dossier_id, who.actor, datetime.now(UTC))
    erasure: Erasure = request.app.state.erasure
    check = await asyncio.to_thread(erasure.erase, command)
    return DossierOut.of(check)


@router.get("/retention-policy", response_model=RetentionPolicyBody)
async def get_retention_policy(who: Admin, request: Request) -> RetentionPolicyBody:
    """The office's retention periods per outcome."""
    policy = await asyncio.to_thread(_app(request).get_retention_policy, who.tenant)
    return RetentionPolicyBody.of(policy)


@router.put(
    "/retention-policy", response_model=RetentionPolicyBody, responses=errors(400, 409, 413)
)
async def set_retention_policy(
    body: RetentionPolicyBody, who: Admin, request: Request
) -> RetentionPolicyBody:
    """Set the office's retention periods (admin), replaced whole; they apply to every closed
    dossier, counted from its closing (one whose new period has passed is erased at once)."""
    command = SetRetentionPolicy(who.tenant, body.model_dump(), who.actor)
    policy = await asyncio.to_thread(_app(request).set_retention_policy, command)
    return RetentionPolicyBody.of(policy)


class DataKeyOut(BaseModel):
    """A dossier's data key, for a platform service that reads our topics' sealed fields."""

    dossier_id: str
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    key: str = Field(description="The 32-byte key, base64.")


@router.get(
    "/dossiers/{dossier_id}/data-key", response_model=DataKeyOut, responses=errors(404, 410)
)
async def data_key(dossier_id: str, who: Service, request: Request) -> DataKeyOut:
    """The dossier's data key (`service` tokens only): a sealed personal field
    (`enc:v1:<base64 of nonce and ciphertext>`) opens with it, AES-GCM with `<tenant>:<dossier>`
    as associated data. 410 once the dossier was erased (forget any copy then); 404 when it has
    no dossier check (the key is made on first use). Cache it; forget it on `DossierErased`."""
    keys: DataKeys = request.app.state.data_keys
    app = _app(request)

    def key_of_dossier() -> bytes:
        key = keys.get(who.tenant, dossier_id)  # 410 once erased
        if key is None:
            app.existing_check(who.tenant, dossier_id)  # 404 for a dossier it does not know
            key = keys.key_for(who.tenant, dossier_id)
        return key

    key = await asyncio.to_thread(key_of_dossier)
    return DataKeyOut(dossier_id=dossier_id, key=base64.b64encode(key).decode())


MAX_KEYS_AT_ONCE = 1000


class DataKeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_KEYS_AT_ONCE
    )
    make: bool = Field(
        default=False,
        description="Make a key now for each dossier that has none (not for an erased one: "
        "it stays in `erased`), for a service that seals a dossier's personal data itself "
        "and may hear of the dossier before the dossier check does.",
    )


class DataKeysOut(BaseModel):
    """The data keys of several dossiers of the office, for a platform service replaying a
    topic: each key (base64) by dossier, the dossiers erased (their keys are gone: forget
    them), and the ones without a key (nothing of theirs is sealed)."""

    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    keys: dict[str, str]
    erased: list[str]
    unknown: list[str]


@router.post("/data-keys", response_model=DataKeysOut, responses=errors(400, 413))
async def data_keys_of(body: DataKeysIn, who: Service, request: Request) -> DataKeysOut:
    """Up to 1,000 dossiers' data keys at once (`service` tokens only), as `GET
    /dossiers/{id}/data-key` gives one: a consumer replaying a topic asks once per batch.
    With `"make": true` a dossier without a key gets one now, whether or not the dossier check
    has heard of it (the scenario service seals an adviser's request with it before the
    request reaches the dossier check): `unknown` is then empty, and an erased dossier stays
    erased (no new key)."""
    keys: DataKeys = request.app.state.data_keys
    wanted = list(dict.fromkeys(body.dossier_ids))
    found = keys.kept(who.tenant, wanted)  # those just made or read: no thread, no query
    if found is None:
        found = await asyncio.to_thread(keys.made if body.make else keys.many, who.tenant, wanted)
    return DataKeysOut(
        keys={d: base64.b64encode(k).decode() for d, k in found.items() if isinstance(k, bytes)},
        erased=[d for d, k in found.items() if not isinstance(k, bytes)],
        unknown=[d for d in wanted if d not in found],
    )
