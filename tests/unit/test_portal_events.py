"""The portal projects every event of the topics it consumes that it should show, on purpose."""

from __future__ import annotations

import sqlite3
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Tracking

from services.portal_projection.views import IGNORED, PROJECTED, PortalView
from shared.events import contracts as c
from shared.events.codec import new_event


def _types_on_the_consumed_topics() -> set[str]:
    types: set[str] = set()
    for topic_union in (c.DossiercontroleTopicEvent, c.ClientsTopicEvent):
        union = typing.get_args(topic_union)[0]
        members = typing.get_args(union) or (union,)
        types |= {member.model_fields["type"].default for member in members}
    return types


def test_every_event_type_of_the_topics_is_projected_or_ignored_on_purpose() -> None:
    published = _types_on_the_consumed_topics()
    assert published - PROJECTED - IGNORED == set(), "events the portal does not know"
    assert published >= PROJECTED | IGNORED, "names that are no event of the topic"
    assert PROJECTED.isdisjoint(IGNORED)


# --- the document cycle as the client sees it (SPEC section 6) --------------------------------

OFFICE, DOSSIER = "kantoor-utrecht", "dossier-1"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class Feed:
    """Feeds the read model one dossier's events, at consecutive positions."""

    def __init__(self, view: PortalView) -> None:
        self.view, self.position = view, 0
        self.point, self.document = uuid4(), uuid4()

    def __call__(self, kind: type[c.CloudEvent], **data: Any) -> None:
        ids = {"action_point_id": self.point, "document_id": self.document, "dossier_id": DOSSIER}
        fields: Any = kind.model_fields["data"].annotation
        keep = {k: v for k, v in ids.items() if k in fields.model_fields}
        event = new_event(kind, {**keep, **data}, source="test", tenant=OFFICE, dossier=DOSSIER)
        self.position += 1
        self.view.process(event, Tracking("actiepunten.dossiercontrole.v1:0", self.position))

    def row(self) -> dict[str, Any]:
        [row] = self.view.action_points(OFFICE, DOSSIER)
        return row


def test_a_rejected_document_reopens_its_action_point_with_the_reason(tmp_path: Path) -> None:
    view = PortalView(tmp_path / "portal.sqlite")
    feed = Feed(view)
    due = NOW + timedelta(days=7)
    feed(
        c.ActionPointOpened,
        subject={"type": "product", "id": "hyp-1", "scope": "hypotheek"},
        document_type="identiteitsbewijs",
        title="Identiteitsbewijs",
        opened_at=NOW,
        due_at=due,
    )
    assert feed.row()["status"] == "open" and feed.row()["document_status"] == "requested"
    assert feed.row()["due_at"] == due.isoformat() and feed.row()["overdue"] is False

    # The client uploads; the action point completes and the progress rises.
    file = {"sha256": "0" * 64, "size": 3, "content_type": "application/pdf", "filename": "id.pdf"}
    feed(c.DocumentUploaded, version=1, file=file, uploaded_by="klant-1")
    feed(c.ActionPointCompleted, completed_at=NOW)
    assert (feed.row()["status"], feed.row()["document_status"]) == ("completed", "uploaded")
    assert view.dossier_progress(OFFICE, DOSSIER)["completed"] == 1

    # The adviser rejects it: open again, with the reason; the progress drops.
    reason = "De achterkant ontbreekt"
    feed(c.DocumentRejected, version=1, reason=reason, rejected_by="adv", rejected_at=NOW)
    feed(c.ActionPointReopened, reason=reason, reopened_at=NOW)
    row = feed.row()
    assert (row["status"], row["reason"], row["document_status"]) == ("open", reason, "rejected")
    assert row["completed_at"] is None
    assert view.dossier_progress(OFFICE, DOSSIER) == {"open": 1, "completed": 0, "percent": 0}

    # Its due date passes: overdue; a new upload completes it and clears both.
    feed(c.ActionPointOverdue, due_at=due)
    assert feed.row()["overdue"] is True
    feed(c.DocumentUploaded, version=2, file=file, uploaded_by="klant-1")
    feed(c.ActionPointCompleted, completed_at=NOW)
    feed(c.DocumentApproved, version=2, approved_by="adv", approved_at=NOW)
    row = feed.row()
    assert (row["status"], row["overdue"], row["reason"]) == ("completed", False, None)
    assert row["document_status"] == "approved"
    view.close()


def test_a_read_model_written_before_the_document_cycle_gets_its_columns(tmp_path: Path) -> None:
    # A portal file of the first release: the action_points table without the new columns.
    path = tmp_path / "portal.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE action_points (tenant TEXT NOT NULL, action_point_id TEXT NOT NULL, "
        "dossier_id TEXT NOT NULL, document_id TEXT NOT NULL, document_type TEXT NOT NULL, "
        "title TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, "
        "created_at TEXT NOT NULL, completed_at TEXT, removed_at TEXT, "
        "PRIMARY KEY (tenant, action_point_id));"
        "INSERT INTO action_points VALUES ('kantoor-utrecht', 'ap-1', 'dossier-1', 'doc-1', "
        '\'loonstrook\', \'Loonstrook\', \'{"type":"product","id":"hyp-1","scope":"hypotheek"}\', '
        "'completed', '2025-01-01T00:00:00+00:00', '2025-01-02T00:00:00+00:00', NULL);"
    )
    db.close()
    view = PortalView(path)
    [row] = view.action_points(OFFICE, DOSSIER)
    assert (row["document_status"], row["overdue"], row["due_at"]) == ("uploaded", False, None)
    view.close()


def test_an_office_that_counts_only_approved_documents_sees_that_progress(tmp_path: Path) -> None:
    view = PortalView(tmp_path / "portal.sqlite")
    feed = Feed(view)
    feed(
        c.ActionPointOpened,
        subject={"type": "product", "id": "hyp-1", "scope": "hypotheek"},
        document_type="loonstrook",
        title="Loonstrook",
        opened_at=NOW,
    )
    file = {"sha256": "0" * 64, "size": 3, "content_type": "application/pdf", "filename": "l.pdf"}
    feed(c.DocumentUploaded, version=1, file=file, uploaded_by="klant-1")
    feed(c.ActionPointCompleted, completed_at=NOW)
    assert view.dossier_progress(OFFICE, DOSSIER)["completed"] == 1  # received counts

    # The office chooses to count only approved documents: received is not done yet.
    feed(c.PortalSettingsChanged, progress_counts="approved")
    assert view.dossier_progress(OFFICE, DOSSIER) == {"open": 1, "completed": 0, "percent": 0}
    assert view.dossiers(OFFICE)[0]["completed"] == 0
    feed(c.DocumentApproved, version=1, approved_by="adv", approved_at=NOW)
    assert view.dossier_progress(OFFICE, DOSSIER)["percent"] == 100
    # Another office keeps the default.
    assert view.progress_counts("kantoor-zwolle") == "received"
    view.close()
