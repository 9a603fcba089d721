"""The adviser's work queue (SPEC section 7), built from the dossier-check topic.

The view is fed as the tracking consumer feeds it: events with their positions, in order. Each
story checks what the adviser would see in the three lists; redelivered and republished events
change nothing, and no office sees another's items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking

from services.portal_projection import work_queue
from services.portal_projection.views import PortalView
from shared.events import contracts as c
from shared.events.codec import new_event
from tests.unit.test_portal_view import PARTITION

OFFICE, OTHER_OFFICE = "kantoor-utrecht", "kantoor-zwolle"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
FILE = {"sha256": "0" * 64, "size": 3, "content_type": "application/pdf", "filename": "scan.pdf"}
FAR = T0 + 1000 * DAY  # a horizon past every window of these stories


class Topic:
    """The dossier-check topic's partition 0 as the consumer hands it to the view; it keeps
    what it delivered, to deliver it again (a republish)."""

    def __init__(self, view: PortalView, tenant: str = OFFICE) -> None:
        self.view, self.tenant = view, tenant
        self.delivered: list[c.CloudEvent] = []

    def deliver(self, event: c.CloudEvent) -> bool:
        """At the partition's next offset (the offices' events share it)."""
        position = (self.view.max_tracking_id(PARTITION) or 0) + 1
        self.delivered.append(event)
        return self.view.process(event, Tracking(PARTITION, position))

    def republish(self) -> None:
        """The outbox relay re-emits everything it sent: the same events at later offsets."""
        for event in list(self.delivered):
            self.deliver(event)

    def event(self, kind: type[c.CloudEvent], at: datetime, **data: Any) -> c.CloudEvent:
        dossier = data.setdefault("dossier_id", "dossier-1")
        return new_event(
            kind,
            data,
            source="actiepunten/dossiercontrole_service",
            tenant=self.tenant,
            dossier=dossier,
            time=at,
        )


class Document:
    """One requested document of a dossier and its action point, as the dossier check
    publishes their facts."""

    def __init__(
        self,
        topic: Topic,
        title: str = "Loonstrook",
        *,
        at: datetime = T0,
        due_at: datetime | None = None,
        dossier_id: str = "dossier-1",
        document_id: UUID | None = None,
        period: str | None = None,
    ) -> None:
        self.topic, self.dossier_id = topic, dossier_id
        self.id, self.point, self.version = document_id or uuid4(), uuid4(), 0
        code = title.lower().replace(" ", "_")
        request = {"subject": MORTGAGE, "document_type": code, "title": title, "period": period}
        self._publish(c.DocumentAdded, at, request_id=uuid4(), due_at=due_at, **request)
        self._publish(c.ActionPointOpened, at, action_point_id=self.point, opened_at=at, **request)

    def _publish(self, kind: type[c.CloudEvent], at: datetime, **data: Any) -> None:
        self.topic.deliver(
            self.topic.event(kind, at, document_id=self.id, dossier_id=self.dossier_id, **data)
        )

    def upload(self, at: datetime, valid_until: datetime | None = None) -> None:
        self.version += 1
        window = {"valid_until": valid_until} if valid_until else {}
        delivery = {"version": self.version, "file": FILE, "uploaded_by": "client:klant-1"}
        self._publish(c.DocumentUploaded, at, **delivery, **window)
        self._publish(c.ActionPointCompleted, at, action_point_id=self.point, completed_at=at)

    def approve(self, at: datetime, version: int | None = None) -> None:
        review = {"version": version or self.version, "approved_by": "adviser:jan"}
        self._publish(c.DocumentApproved, at, **review, approved_at=at)

    def reject(self, at: datetime) -> None:
        reason = "De achterkant ontbreekt"
        review = {"version": self.version, "rejected_by": "adviser:jan", "reason": reason}
        self._publish(c.DocumentRejected, at, **review, rejected_at=at)
        self._publish(
            c.ActionPointReopened, at, action_point_id=self.point, reason=reason, reopened_at=at
        )

    def falls_due(self, at: datetime) -> None:
        self._publish(c.ActionPointOverdue, at, action_point_id=self.point, due_at=at)

    def expire(self, valid_until: datetime) -> None:
        self._publish(c.DocumentExpired, valid_until, valid_until=valid_until)

    def remove(self, at: datetime) -> None:
        self._publish(c.DocumentRemoved, at, removed_by="adviser:jan")
        removed = {"action_point_id": self.point, "reason": "document_removed", "removed_at": at}
        self._publish(c.ActionPointRemoved, at, **removed)

    def remove_action_point(self, at: datetime) -> None:
        removed = {"action_point_id": self.point, "reason": "removed_by_adviser", "removed_at": at}
        self._publish(c.ActionPointRemoved, at, **removed)


def page(
    view: PortalView, kind: str, tenant: str = OFFICE, horizon: datetime = FAR, limit: int = 100
) -> list[dict[str, Any]]:
    """The first page of the office's list ``kind``."""
    return view.read_work_queue(
        lambda query: work_queue.items(query, tenant, kind, limit, None, horizon)
    )


def counts(view: PortalView, tenant: str, horizon: datetime) -> dict[str, int]:
    return view.read_work_queue(lambda query: work_queue.summary(query, tenant, horizon))


def listed(
    view: PortalView, kind: str, tenant: str = OFFICE, horizon: datetime = FAR
) -> list[tuple[str, str, datetime]]:
    """The list as the adviser reads it: (title, status, since), oldest first."""
    return [
        (item["title"], item["status"], datetime.fromisoformat(item["since"]))
        for item in page(view, kind, tenant, horizon)
    ]


# --- to review ----------------------------------------------------------------------------------


def test_each_period_of_a_type_is_its_own_item_and_names_its_period(view: PortalView) -> None:
    topic = Topic(view)
    years = {year: Document(topic, "Aangifte", period=year) for year in ("2023", "2024")}
    for year, document in years.items():
        document.upload(T0 + DAY * int(year[-1]))
        document.falls_due(T0 + 10 * DAY)  # (delivered: not overdue)
    untyped = Document(topic, "Loonstrook")
    untyped.falls_due(T0 + 10 * DAY)

    to_review = [(item["title"], item["period"]) for item in page(view, "to_review")]
    assert to_review == [("Aangifte", "2023"), ("Aangifte", "2024")]
    [overdue] = page(view, "overdue")
    assert (overdue["title"], overdue["period"]) == ("Loonstrook", None)


def test_a_delivery_waits_for_review_since_its_first_upload_until_the_adviser_reviews_it(
    view: PortalView,
) -> None:
    topic = Topic(view)
    payslip = Document(topic, "Loonstrook")
    assert listed(view, "to_review") == []

    # The client delivers, and again before the adviser looked: it has waited since the first.
    payslip.upload(T0 + DAY)
    payslip.upload(T0 + 2 * DAY)
    assert listed(view, "to_review") == [("Loonstrook", "uploaded", T0 + DAY)]
    [item] = page(view, "to_review")
    assert (item["document_id"], item["action_point_id"]) == (str(payslip.id), str(payslip.point))
    assert (item["dossier_id"], item["subject"]) == ("dossier-1", MORTGAGE)

    # A review of the first version, which is no longer the latest, changes nothing.
    payslip.approve(T0 + 3 * DAY, version=1)
    assert len(listed(view, "to_review")) == 1

    # The adviser rejects the latest: off the list; the client's next delivery is new there.
    payslip.reject(T0 + 3 * DAY)
    assert listed(view, "to_review") == []
    payslip.upload(T0 + 5 * DAY)
    assert listed(view, "to_review") == [("Loonstrook", "uploaded", T0 + 5 * DAY)]
    payslip.approve(T0 + 6 * DAY)
    assert listed(view, "to_review") == []


def test_the_oldest_delivery_comes_first_and_a_removed_action_point_leaves_the_document_listed(
    view: PortalView,
) -> None:
    topic = Topic(view)
    payslip, passport = Document(topic, "Loonstrook"), Document(topic, "Paspoort")
    passport.upload(T0 + HOUR)
    payslip.upload(T0 + 2 * HOUR)
    assert [title for title, _, _ in listed(view, "to_review")] == ["Paspoort", "Loonstrook"]

    # The adviser removes only the passport's action point: the delivery still waits for review.
    passport.remove_action_point(T0 + 3 * HOUR)
    first = page(view, "to_review")[0]
    assert (first["title"], first["action_point_id"]) == ("Paspoort", None)


# --- overdue -------------------------------------------------------------------------------------


def test_an_open_action_point_past_its_due_date_is_overdue_until_delivered_or_removed(
    view: PortalView,
) -> None:
    topic = Topic(view)
    due = T0 + 7 * DAY
    payslip = Document(topic, "Loonstrook", due_at=due)
    statement = Document(topic, "Jaaropgave", due_at=due - DAY)
    assert listed(view, "overdue") == []

    payslip.falls_due(due)
    statement.falls_due(due - DAY)
    assert listed(view, "overdue") == [
        ("Jaaropgave", "requested", due - DAY),
        ("Loonstrook", "requested", due),
    ]
    [_, item] = page(view, "overdue")
    assert (item["action_point_id"], item["document_id"]) == (str(payslip.point), str(payslip.id))
    assert datetime.fromisoformat(item["due_at"]) == due and item["valid_until"] is None

    # Delivered: no longer overdue. The other one's action point is removed: gone as well.
    payslip.upload(due + DAY)
    statement.remove_action_point(due + DAY)
    assert listed(view, "overdue") == []

    # Rejected past its due date, the point is open again; overdue with the next ActionPointOverdue.
    payslip.reject(due + 2 * DAY)
    assert listed(view, "overdue") == []
    payslip.falls_due(due)
    assert listed(view, "overdue") == [("Loonstrook", "rejected", due)]


def test_a_removed_document_shows_in_no_list(view: PortalView) -> None:
    topic = Topic(view)
    due = T0 + DAY
    request = Document(topic, "Loonstrook", due_at=due)
    request.falls_due(due)
    assert len(listed(view, "overdue")) == 1

    request.remove(due + HOUR)

    assert [listed(view, kind) for kind in ("to_review", "overdue", "expiring")] == [[], [], []]


# --- expiring ------------------------------------------------------------------------------------


def test_a_delivery_whose_window_ends_within_the_horizon_is_expiring_until_it_expired(
    view: PortalView,
) -> None:
    topic = Topic(view)
    payslip, statement, passport = (Document(topic, t) for t in ("Loonstrook", "WGV", "Paspoort"))
    payslip.upload(T0, valid_until=T0 + 90 * DAY)
    statement.upload(T0, valid_until=T0 + 30 * DAY)
    passport.upload(T0)  # no validity window: never expiring
    payslip.approve(T0 + DAY)

    # Delivered or approved, soonest end first; the horizon bounds the list.
    assert listed(view, "expiring") == [
        ("WGV", "uploaded", T0 + 30 * DAY),
        ("Loonstrook", "approved", T0 + 90 * DAY),
    ]
    assert [t for t, _, _ in listed(view, "expiring", horizon=T0 + 60 * DAY)] == ["WGV"]
    [item] = page(view, "expiring", horizon=T0 + 60 * DAY)
    assert datetime.fromisoformat(item["valid_until"]) == T0 + 30 * DAY

    # The statement is rejected (its window no longer counts); the payslip expires.
    statement.reject(T0 + 2 * DAY)
    payslip.expire(T0 + 90 * DAY)
    assert listed(view, "expiring") == []


def test_the_summary_counts_each_list_of_the_office(view: PortalView) -> None:
    topic = Topic(view)
    for n in range(3):
        Document(topic, f"Te beoordelen {n}").upload(T0 + n * HOUR, valid_until=T0 + (10 + n) * DAY)
    Document(topic, "Te laat", due_at=T0).falls_due(T0)

    assert counts(view, OFFICE, T0 + 11 * DAY) == {
        "to_review": 3,
        "overdue": 1,
        "expiring": 2,
    }
    assert counts(view, OTHER_OFFICE, FAR) == {
        "to_review": 0,
        "overdue": 0,
        "expiring": 0,
    }


# --- the same facts again, and other offices ----------------------------------------------------


def test_republished_and_redelivered_events_change_no_list(view: PortalView) -> None:
    topic = Topic(view)
    due = T0 + 7 * DAY
    payslip = Document(topic, "Loonstrook", due_at=due)
    payslip.falls_due(due)
    payslip.upload(due + DAY, valid_until=due + 90 * DAY)
    payslip.reject(due + 2 * DAY)
    payslip.upload(due + 3 * DAY, valid_until=due + 93 * DAY)
    passport = Document(topic, "Paspoort")
    passport.upload(T0 + DAY, valid_until=T0 + 30 * DAY)
    passport.approve(T0 + 2 * DAY)
    lists = {kind: listed(view, kind) for kind in ("to_review", "overdue", "expiring")}
    assert lists["to_review"] == [("Loonstrook", "uploaded", due + 3 * DAY)]

    # Kafka redelivers the last record; the relay republishes everything it ever sent.
    assert (
        view.process(topic.delivered[-1], Tracking("actiepunten.dossiercontrole.v1:0", 1)) is False
    )
    topic.republish()

    assert {kind: listed(view, kind) for kind in lists} == lists


def test_another_office_sees_nothing_and_cannot_touch_this_offices_documents(
    view: PortalView,
) -> None:
    ours, theirs = Topic(view), Topic(view, tenant=OTHER_OFFICE)
    payslip = Document(ours, "Loonstrook", due_at=T0)
    payslip.falls_due(T0)
    passport = Document(ours, "Paspoort")
    passport.upload(T0, valid_until=T0 + DAY)

    assert [listed(view, k, OTHER_OFFICE) for k in ("to_review", "overdue", "expiring")] == [
        [],
        [],
        [],
    ]
    # Their events name our documents and action points: they reach only their own rows.
    lookalike = Document(theirs, "Paspoort", document_id=passport.id)
    lookalike.point = payslip.point
    lookalike.version = passport.version
    lookalike.approve(T0 + HOUR)
    lookalike.upload(T0 + HOUR)
    assert listed(view, "to_review") == [("Paspoort", "uploaded", T0)]
    assert listed(view, "overdue") == [("Loonstrook", "requested", T0)]
    assert listed(view, "to_review", OTHER_OFFICE) == [("Paspoort", "uploaded", T0 + HOUR)]


# --- what a page costs -------------------------------------------------------------------------


def test_every_list_reads_a_page_and_its_count_from_its_own_index_without_sorting(
    view: PortalView,
) -> None:
    """So that a page at 100,000 open items costs what it costs at 1,000 (``make bench``)."""
    # The list to review got a new index when it began to hold "not applicable" claims too.
    INDEX_OF = {kind: f"work_queue_{kind}" for kind in work_queue.KINDS}
    INDEX_OF["to_review"] = "work_queue_review"
    plans: list[str] = []

    def explain(sql: str, params: Any) -> list[dict[str, Any]]:
        steps = view.store.query("EXPLAIN QUERY PLAN " + sql, params)
        plans.append(" | ".join(step["detail"] for step in steps))
        return [] if sql.startswith("SELECT tenant") else [dict.fromkeys(work_queue.KINDS, 0)]

    for kind in work_queue.KINDS:
        for after in (None, ("2026-01-05T09:00:00.000000+00:00", str(uuid4()))):
            plans.clear()
            work_queue.items(explain, OFFICE, kind, 100, after, FAR)
            [plan] = plans
            assert f"USING INDEX {INDEX_OF[kind]} (tenant=?" in plan, plan
            if kind != "overdue":  # and each document's action point by the document's id
                assert "INDEX action_points_by_document (tenant=? AND document_id=?)" in plan
            assert "TEMP B-TREE" not in plan and "SCAN" not in plan, plan
    plans.clear()
    work_queue.summary(explain, OFFICE, FAR)
    for kind in work_queue.KINDS:
        assert f"USING INDEX {INDEX_OF[kind]} (tenant=?" in plans[0], plans
