"""The adviser's work queue as it grows (issue 17): a page's p99 over HTTP with each list at
1,000 items and at 100,000 (target: within 2x), on the running system's portal.

Filling 300,000 items through the whole system would take longer than the rest of the run, so
the facts go straight through the portal's projection (``PortalView.process_many`` in batches,
as a replay applies them) into the read model the running portal serves, under a tracking name
of their own; the queries go to the running portal over HTTP, as an adviser's would.
Each list holds the same number of items: deliveries waiting for review with a validity window
ending within the default horizon (to review, expiring) and overdue action points.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eventsourcing.persistence import Tracking

from bench.e2e import Results, percentile
from servicekit.pages import Page
from servicekit.settings import Settings
from services.portal_projection.stores import open_store
from services.portal_projection.views import PortalView
from services.portal_projection.work_queue import KINDS, instant
from shared.events import contracts as c
from shared.events.codec import new_event
from tests.support import Office, System

SAMPLES = 300
SMALL = 1_000
T0 = datetime(2025, 1, 1, tzinfo=UTC)
WINDOWS_FROM = datetime.now(UTC).replace(microsecond=0)
SUBJECT = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}
FILE = {"sha256": "0" * 64, "size": 3, "content_type": "application/pdf", "filename": "scan.pdf"}


def work_queue_p99(system: System, items: int, results: Results) -> None:
    """Page and summary p99 with each list at ``SMALL`` items, then at ``items``."""
    office = system.office()
    view = PortalView(open_store(_portal_settings(system)))
    try:
        keys: dict[str, list[tuple[str, str]]] = {kind: [] for kind in KINDS}
        _fill(view, office, 0, SMALL, keys)
        small = _p99s(system, office, keys)
        started = time.perf_counter()
        _fill(view, office, SMALL, items, keys)
        fill_seconds = time.perf_counter() - started
        big = _p99s(system, office, keys)
    finally:
        view.close()
    results.add(
        f"work queue fill, {items - SMALL:,} items a list",
        4 * (items - SMALL) / fill_seconds,
        "events/s",
        None,
        "(context: straight through the projection into the served model)",
    )
    for what, target in (("page", " (target <= 2x)"), ("summary", " (context)")):
        ratio = big[what] / small[what]
        results.add(
            f"work queue {what} p99, {items:,} items a list",
            big[what],
            "ms",
            small[what],
            f"{ratio:.2f}x the p99 at {SMALL:,} items{target}",
        )


def _portal_settings(system: System) -> Settings:
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in system.env.items() if k.startswith("ACTIEPUNTEN_")})
    try:
        return Settings.from_env("portal", require_secret=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _fill(
    view: PortalView, office: Office, start: int, stop: int, keys: dict[str, list[Any]]
) -> None:
    """Items ``start`` to ``stop`` of each list, 125 of each at a time: one transaction, and one
    statement per event type (as a replay's batches go)."""
    for first in range(start, stop, 125):
        numbers = range(first, min(first + 125, stop))
        events = [_fact(office, n, kind) for kind in range(4) for n in numbers]
        view.process_many(events, Tracking(f"bench-work-queue:{office.tenant}", first + 125))
        for n in numbers:
            document = str(_id("document", office, n))
            keys["to_review"].append((instant(_moment(n)), document))
            keys["overdue"].append((instant(_moment(n)), str(_id("point", office, n))))
            keys["expiring"].append((instant(_window_end(n)), document))


def _fact(office: Office, n: int, kind: int) -> c.CloudEvent:
    """Item ``n`` of the lists: a delivered document (its addition, kind 0; its delivery, 1)
    and an action point that fell due (opened, 2; overdue, 3)."""
    document, point, at = _id("document", office, n), _id("point", office, n), _moment(n)
    requested = {"subject": SUBJECT, "document_type": "loonstrook", "title": "Loonstrook"}
    facts: list[tuple[type[c.CloudEvent], dict[str, Any]]] = [
        (c.DocumentAdded, {"document_id": document, "request_id": uuid.uuid4(), **requested}),
        (
            c.DocumentUploaded,
            {"document_id": document, "version": 1, "file": FILE, "uploaded_by": "client:k"}
            | {"valid_until": _window_end(n)},
        ),
        (
            c.ActionPointOpened,
            {"action_point_id": point, "document_id": _id("requested", office, n)}
            | {"opened_at": at, "due_at": at, **requested},
        ),
        (
            c.ActionPointOverdue,
            {"action_point_id": point, "document_id": _id("requested", office, n), "due_at": at},
        ),
    ]
    event_class, data = facts[kind]
    dossier = f"wq-{n % 1000}"
    return new_event(
        event_class,
        {"dossier_id": dossier, **data},
        source="actiepunten/bench",
        tenant=office.tenant,
        dossier=dossier,
        time=at,
    )


def _id(what: str, office: Office, n: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{office.tenant}/{what}/{n}")


def _moment(n: int) -> datetime:
    """When item ``n`` was delivered, and when its action point fell due."""
    return T0 + timedelta(seconds=n)


def _window_end(n: int) -> datetime:
    """The end of item ``n``'s validity window: within the default horizon (P14D) while the
    bench runs."""
    return WINDOWS_FROM + timedelta(days=1, seconds=n % 777_600)


def _p99s(
    system: System, office: Office, keys: dict[str, list[tuple[str, str]]]
) -> dict[str, float]:
    """p99 in ms of a page (a random list; the first page or one after a random item) and of
    the summary."""
    pages, summaries = [], []
    with httpx.Client(base_url=system.url("portal"), headers=office.adviser, timeout=30) as http:
        for sample in range(SAMPLES + 10):
            kind = random.choice(KINDS)
            params: dict[str, Any] = {"kind": kind}
            if sample % 2:
                after = random.choice(keys[kind])
                params["cursor"] = Page("work-queue", 100, None).cursor_after((kind, *after))
            pages.append(_timed(http, "/work-queue", params))
            summaries.append(_timed(http, "/work-queue/summary", {}))
    # The first ten of each are the warm-up.
    return {"page": percentile(pages[10:], 99), "summary": percentile(summaries[10:], 99)}


def _timed(http: httpx.Client, path: str, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = http.get(path, params=params)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return 1000 * elapsed
