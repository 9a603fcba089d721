"""The dossier-check service's HTTP API for evidence (SPEC section 11): a dossier's evidence pack
as it stood at a moment, and its chain recomputed from the store (``actiepunten evidence
verify`` asks for it). The pack itself is ``evidence.py``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from services.dossiercontrole_service.evidence import Evidence
from services.dossiercontrole_service.files import MAX_VERSION, content_disposition, in_digits

router = APIRouter(responses=AUTHENTICATED, tags=["evidence"])
Staff = Annotated[Identity, Depends(require("adviser", "admin"))]


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("a moment out of range") from None


Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]

PACK_ANSWER: dict[str, Any] = {
    "description": "The evidence pack, a ZIP (streamed): `manifest.json`, `chain.json` and "
    "the files of the versions the manifest names (`files/<sha256>.<ext>`).",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    "headers": {
        "Content-Disposition": {
            "description": '`attachment; filename="evidence-<dossier>.zip"`',
            "schema": {"type": "string"},
        }
    },
}


def _evidence(request: Request) -> Evidence:
    return request.app.state.evidence  # type: ignore[no-any-return]


@router.get(
    "/dossiers/{dossier_id}/evidence",
    response_class=StreamingResponse,
    responses={**errors(404), 200: PACK_ANSWER},
)
async def evidence_pack(
    dossier_id: str,
    who: Staff,
    request: Request,
    at: Annotated[
        Moment | None,
        Query(description="The moment the pack shows the dossier check at (default: now)."),
    ] = None,
) -> StreamingResponse:
    """The dossier's evidence pack at `at` (the adviser or the admin of its office): the dossier
    check as it stood then (documents, statuses, versions with their SHA-256, reviews, requests),
    the files of those versions, and a hash chain over the dossier's stored events up to then.
    An erased dossier's pack says when, and holds no files. 422 for a moment before the dossier
    began or in the future; 404 for a dossier the office does not have."""
    evidence = _evidence(request)
    now = datetime.now(UTC)
    pack = await asyncio.to_thread(evidence.pack, who.tenant, dossier_id, at, now, who.actor)
    filename = f"evidence-{dossier_id}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
    return StreamingResponse(
        pack.chunks(evidence.blobs),  # a generator: each chunk is read in a worker thread
        media_type="application/zip",
        headers={
            "Content-Disposition": content_disposition(filename, inline=False),
            "Cache-Control": "private, no-store",
        },
    )


class ChainOut(BaseModel):
    """The chain of a dossier's stored events up to `version`, recomputed from the store."""

    dossier_id: str
    version: int = Field(description="How many stored events the chain covers (1, 2, ...).")
    last_link: str = Field(description="The link of the event at `version`, hex.")
    erased_at: AwareDatetime | None
    erased_by: str | None


@router.get("/dossiers/{dossier_id}/evidence/chain", response_model=ChainOut, responses=errors(404))
async def evidence_chain(
    dossier_id: str,
    who: Staff,
    request: Request,
    version: Annotated[
        int,
        # The bounds before the validator: so they reach the OpenAPI schema as minimum/maximum.
        Query(ge=1, le=MAX_VERSION, description="The last stored event it covers."),
        BeforeValidator(in_digits),
    ],
) -> ChainOut:
    """The chain's link at `version`, recomputed from the stored events (what a pack's
    `chain.json` must end with), and whether and when the dossier was erased. 404 when the
    store holds fewer events, or for a dossier the office does not have."""
    state = await asyncio.to_thread(_evidence(request).chain, who.tenant, dossier_id, version)
    return ChainOut(
        dossier_id=state.dossier_id,
        version=state.version,
        last_link=state.last_link,
        erased_at=state.erased_at,
        erased_by=state.erased_by,
    )
