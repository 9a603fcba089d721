"""Writes tests/data/portal_model_v1.sql and portal_model_v1_events.jsonl with the code of main
at 321564a (before the work queue): the portal's read model as that code projects the events of
one dossier, and the events themselves (what the topic held).

    git archive 321564a | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/make_portal_model_v1.py tests/data/portal_model_v1
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events.codec import encode, new_event

OFFICE, DOSSIER = "kantoor-utrecht", "dossier-1"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SUBJECT = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
FILE = {"sha256": "0" * 64, "size": 3, "content_type": "application/pdf", "filename": "scan.pdf"}
TYPES = [
    ("identiteitsbewijs", "Identiteitsbewijs"),
    ("loonstrook", "Loonstrook"),
    ("werkgeversverklaring", "Werkgeversverklaring"),
]


class Dossier:
    """The dossier check's facts of one dossier, in the order it publishes them."""

    def __init__(self) -> None:
        self.events: list[c.CloudEvent] = []

    def event(self, kind: type[c.CloudEvent], at: datetime, n: int, **data: Any) -> None:
        """A fact of document ``n`` (and of its action point, where ``kind`` is about one)."""
        ids = {"document_id": UUID(int=0x1000 + n), "action_point_id": UUID(int=0x2000 + n)}
        fields: Any = kind.model_fields["data"].annotation
        data = {name: ids[name] for name in ids if name in fields.model_fields} | data
        self.events.append(
            new_event(
                kind,
                {"dossier_id": DOSSIER, **data},
                source="actiepunten/dossiercontrole_service",
                tenant=OFFICE,
                dossier=DOSSIER,
                time=at,
                event_id=UUID(int=len(self.events) + 1),
            )
        )

    def requested(self, n: int, code: str, title: str) -> None:
        opened = {"subject": SUBJECT, "document_type": code, "title": title, "due_at": T0 + 7 * DAY}
        added = {"request_id": UUID(int=0x3000 + n), "source": "manual"}
        self.event(c.DocumentAdded, T0, n, **added, **opened)
        self.event(c.ActionPointOpened, T0, n, opened_at=T0, **opened)

    def delivered(self, n: int, at: datetime, **window: Any) -> None:
        uploaded = {"version": 1, "file": FILE, "uploaded_by": "client:klant-1"}
        self.event(c.DocumentUploaded, at, n, **uploaded, **window)
        self.event(c.ActionPointCompleted, at, n, completed_at=at)


def the_dossier() -> list[c.CloudEvent]:
    """Three requests: the ID delivered and waiting for review, the payslip overdue, the
    employer's statement delivered with a validity window and approved."""
    dossier = Dossier()
    for n, (code, title) in enumerate(TYPES):
        dossier.requested(n, code, title)
    dossier.delivered(0, T0 + DAY)
    dossier.event(c.ActionPointOverdue, T0 + 7 * DAY, 1, due_at=T0 + 7 * DAY)
    dossier.delivered(2, T0 + 2 * DAY, valid_until=T0 + 92 * DAY)
    approved = {"version": 1, "approved_by": "adviser:jan", "approved_at": T0 + 3 * DAY}
    dossier.event(c.DocumentApproved, T0 + 3 * DAY, 2, **approved)
    dossier.event(c.PortalSettingsChanged, T0 + 3 * DAY, 0, progress_counts="approved")
    return dossier.events


def main(out: Path) -> None:
    events = the_dossier()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "portal.sqlite"
        view = PortalView(path)
        for position, event in enumerate(events, start=1):
            view.process(event, Tracking("actiepunten.dossiercontrole.v1:0", position))
        view.close()
        dump = "\n".join(sqlite3.connect(path).iterdump())
    out.with_suffix(".sql").write_text(
        "-- The portal read model as main at 321564a (before the work queue) wrote it, from the\n"
        "-- events of portal_model_v1_events.jsonl at offsets 0-12 of partition 0. Made by\n"
        "-- make_portal_model_v1.py with the code of that commit; do not edit by hand.\n"
        + dump
        + "\n"
    )
    lines = [encode(event).decode() for event in events]
    (out.parent / (out.name + "_events.jsonl")).write_text(
        "# The records of the dossier-check topic's partition 0 behind portal_model_v1.sql.\n"
        + "\n".join(lines)
        + "\n"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
