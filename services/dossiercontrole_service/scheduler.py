"""What the dossier check does at a moment, once, in any number of replicas.

The generic piece is ``servicekit.scheduler``. Here: the expiries of delivered documents. An
upload with a validity window (``valid_until``) plans the document's expiry at that moment; a
later upload moves it (each delivery restarts the window), and its expiry or removal ends the
wait. The action is ``DossierChecks.expire_document``: it loads the dossier check, checks that
the document is still to expire, and saves with the version it read, so that of racing
replicas one save wins and the others find it expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prometheus_client import Counter, Gauge

from servicekit import scheduler
from servicekit.eventstore import traceparent_of
from services.dossiercontrole_service.application import DossierChecks

MAX_BACKOFF = timedelta(seconds=30)

EXPIRIES_WAITING = Gauge(
    "actiepunten_expiries_waiting", "Delivered documents waiting for the end of their validity"
)
DOCUMENTS_EXPIRED = Counter(
    "actiepunten_documents_expired", "Documents this process expired at the end of their validity"
)


def expiry_moment(event: Any) -> scheduler.Due | scheduler.Gone | None:
    """What a stored event of a dossier check means for the expiries: keyed by the dossier
    check's id and the document's, which is what the action loads."""
    name = type(event).__qualname__
    if name == "DossierCheck.DocumentUploaded":
        key = (event.originator_id, UUID(str(event.document_id)))
        if event.valid_until is None:
            return scheduler.Gone(key)  # delivered again while its type has no window
        return scheduler.Due(key, event.valid_until, traceparent_of(event))
    if name in ("DossierCheck.DocumentExpired", "DossierCheck.DocumentRemoved"):
        return scheduler.Gone((event.originator_id, UUID(str(event.document_id))))
    return None


class ExpiryScheduler(scheduler.Scheduler):
    """Expires delivered documents at the end of their validity window (SPEC section 6)."""

    def __init__(self, app: DossierChecks, *, tick: float = 0.2) -> None:
        self.app = app
        super().__init__(
            scheduler.LoggedTimetable(app, expiry_moment, topic_part=":DossierCheck.Document"),
            self._expire,
            span="expire document",
            tick=tick,
            max_backoff=MAX_BACKOFF,
            done=DOCUMENTS_EXPIRED,
            waiting=EXPIRIES_WAITING,
        )

    def _expire(self, due: scheduler.Due, now: datetime) -> bool:
        dossier_check_id, document_id = cast(tuple[UUID, UUID], due.key)
        return self.app.expire_document(dossier_check_id, document_id, now)
