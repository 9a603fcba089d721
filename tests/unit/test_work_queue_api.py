"""The work queue's read API (SPEC section 7): pages, cursors, who may read it, bad input.

The portal's app on a read model in a temp folder, fed as its consumer would feed it; Kafka is
not started (the app's lifespan does not run).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from servicekit.auth import issue_token
from servicekit.settings import Settings
from services.portal_projection import main
from services.portal_projection.views import PortalView
from tests.unit.test_work_queue import DAY, HOUR, OFFICE, OTHER_OFFICE, T0, Document, Topic

SECRET = "work-queue-unit-test-" + "x" * 32


class Portal:
    """The portal's HTTP app and the view it serves."""

    def __init__(self, data_dir: Path) -> None:
        settings = Settings(
            service="portal",
            data_dir=data_dir,
            kafka_bootstrap_servers="unused:9092",
            jwt_secret=SECRET,
        )
        app = main.create_app(settings)
        self.http = TestClient(app)
        self.view: PortalView = app.state.view

    def get(
        self, path: str, role: str = "adviser", tenant: str = OFFICE, **params: Any
    ) -> httpx.Response:
        token = issue_token(SECRET, sub=f"{role}-1", tenant=tenant, role=role)  # type: ignore[arg-type]
        return self.http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})

    def pages(self, kind: str, limit: int, cursor: str | None = None) -> list[list[dict[str, Any]]]:
        """Every page of a list from ``cursor`` on, following ``next_cursor`` until it is null."""
        pages: list[list[dict[str, Any]]] = []
        while len(pages) < 50:
            after = {"cursor": cursor} if cursor else {}
            response = self.get("/work-queue", kind=kind, limit=limit, **after)
            assert response.status_code == 200, response.text
            pages.append(response.json()["items"])
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return pages
        raise AssertionError("the pages never end")


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    served = Portal(tmp_path)
    yield served
    served.view.close()


def test_a_list_comes_in_pages_oldest_first_and_items_added_meanwhile_shift_no_page(
    portal: Portal,
) -> None:
    topic = Topic(portal.view)
    # Seven deliveries, two of them at the same moment: those are ordered by document id.
    documents = [Document(topic, f"Stuk {n}") for n in range(7)]
    delivered = {document.id: T0 + min(n, 5) * HOUR for n, document in enumerate(documents)}
    for document in documents:
        document.upload(delivered[document.id])

    first = portal.get("/work-queue", kind="to_review", limit=3).json()
    # A delivery older than every listed one arrives between two pages: the next page goes on
    # after the last item it saw.
    Document(topic, "Later gezien").upload(T0 - DAY)
    rest = portal.pages("to_review", 3, cursor=first["next_cursor"])

    pages = [first["items"], *rest]
    assert [len(page) for page in pages] == [3, 3, 1]
    items = [item for page in pages for item in page]
    oldest_first = sorted(delivered, key=lambda d: (delivered[d], str(d)))
    assert [item["document_id"] for item in items] == [str(d) for d in oldest_first]
    item = items[0]
    assert set(item) == {
        "dossier_id",
        "document_id",
        "document_type",
        "title",
        "subject",
        "period",
        "status",
        "since",
        "due_at",
        "valid_until",
        "action_point_id",
    }
    assert datetime.fromisoformat(item["since"]) == T0
    assert portal.pages("to_review", 500)[0][0]["title"] == "Later gezien"


def test_a_cursor_belongs_to_its_own_list(portal: Portal) -> None:
    topic = Topic(portal.view)
    for n in range(3):
        Document(topic, f"Stuk {n}", due_at=T0).falls_due(T0 + n * HOUR)
    cursor = portal.get("/work-queue", kind="overdue", limit=1).json()["next_cursor"]

    assert portal.get("/work-queue", kind="overdue", limit=1, cursor=cursor).status_code == 200
    for kind in ("to_review", "expiring"):
        refused = portal.get("/work-queue", kind=kind, cursor=cursor)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "query",
            "cursor",
        ]
    assert portal.get("/work-queue", kind="overdue", cursor="not-a-cursor").status_code == 422
    assert portal.get("/work-queue", kind="overdue", limit=0).status_code == 422
    assert portal.get("/work-queue", kind="overdue", limit=501).status_code == 422


def test_the_summary_counts_what_the_lists_hold_and_within_bounds_the_expiring_one(
    portal: Portal,
) -> None:
    topic = Topic(portal.view)
    now = datetime.now(UTC)
    for days in (3, 10, 20):
        Document(topic, f"Binnen {days} dagen").upload(now, valid_until=now + days * DAY)
    Document(topic, "Te laat", due_at=T0).falls_due(T0)

    # Within P14D by default.
    assert portal.get("/work-queue/summary").json() == {
        "to_review": 3,
        "overdue": 1,
        "expiring": 2,
    }
    assert portal.get("/work-queue/summary", within="P30D").json()["expiring"] == 3
    titles = [
        i["title"] for i in portal.get("/work-queue", kind="expiring", within="P5D").json()["items"]
    ]
    assert titles == ["Binnen 3 dagen"]


@pytest.mark.parametrize("within", ["14D", "P", "PT", "P14", "two weeks", "P1.5D", "-P1D"])
def test_a_within_that_is_no_iso_8601_duration_is_a_422_that_says_so(
    portal: Portal, within: str
) -> None:
    for path, params in (("/work-queue", {"kind": "expiring"}), ("/work-queue/summary", {})):
        response = portal.get(path, within=within, **params)
        assert response.status_code == 422, response.text
        [issue] = response.json()["detail"]
        assert issue["loc"] == ["query", "within"]
        assert "ISO 8601 duration" in issue["msg"] or "pattern" in issue["msg"]


def test_an_unknown_or_missing_kind_is_a_422(portal: Portal) -> None:
    assert portal.get("/work-queue", kind="later").status_code == 422
    assert portal.get("/work-queue").status_code == 422


def test_only_an_adviser_reads_the_work_queue_and_only_of_its_own_office(portal: Portal) -> None:
    Document(Topic(portal.view), "Loonstrook").upload(T0)

    for path in ("/work-queue?kind=to_review", "/work-queue/summary"):
        assert portal.get(path, role="client").status_code == 403
        assert portal.get(path, role="admin").status_code == 403
        assert portal.http.get(path).status_code == 401
        assert portal.http.get(path, headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    assert len(portal.get("/work-queue", kind="to_review").json()["items"]) == 1
    assert portal.get("/work-queue", kind="to_review", tenant=OTHER_OFFICE).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert portal.get("/work-queue/summary", tenant=OTHER_OFFICE).json()["to_review"] == 0


def test_the_routes_declare_the_statuses_they_answer(portal: Portal) -> None:
    paths = portal.http.get("/openapi.json").json()["paths"]
    for path in ("/work-queue", "/work-queue/summary"):
        declared = set(paths[path]["get"]["responses"])
        assert {"200", "401", "403", "422", "503"} <= declared
