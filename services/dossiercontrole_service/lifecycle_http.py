"""The dossier-check service's HTTP API for a dossier's lifetime (SPEC section 11): closing and
reopening a dossier. The rest of the API is ``http.py``; both routers are the same service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from servicekit.auth import Identity, require
from servicekit.errors import AUTHENTICATED, errors
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.domainmodel import DossierCheck, Outcome
from services.dossiercontrole_service.lifecycle import CloseDossier, ReopenDossier

router = APIRouter(responses=AUTHENTICATED, tags=["dossier lifetime"])
Adviser = Annotated[Identity, Depends(require("adviser"))]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome = Field(
        description="How the relationship ended: `completed`, `withdrawn` or `declined`; the "
        "office's retention period for it runs from the closing."
    )


class DossierOut(BaseModel):
    """Whether a dossier is open or closed, and how it ended."""

    dossier_id: str
    status: Literal["open", "closed"]
    outcome: Outcome | None
    closed_at: AwareDatetime | None

    @classmethod
    def of(cls, check: DossierCheck) -> DossierOut:
        return cls(
            dossier_id=check.dossier_id,
            status="closed" if check.closed else "open",
            outcome=Outcome(check.outcome) if check.outcome else None,
            closed_at=check.closed_at,
        )


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
