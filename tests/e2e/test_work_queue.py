"""Stories of the adviser's work queue (SPEC section 7): what waits for the office, office-wide.

A client's delivery waits for review until the adviser reviews it; an open action point past its
due date is overdue until it is delivered; a delivery whose validity window ends soon is
expiring. The portal projects them from the dossier-check topic: a replay rebuilds the same
queue, and a read model written before the work queue gets it by itself. Each story runs in its
own office against the services as processes on a real broker, on both stores.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicekit.settings import Settings
from services.portal_projection.stores import activate, current_name
from tests.e2e.test_document_cycle import SETTLE, configure_type, deliver, moment, review
from tests.e2e.test_dossier_check import dossier_check_when, request_document
from tests.e2e.test_operations import _replayed, _serving_after
from tests.support import Office, System, eventually, wait_until_caught_up

pytestmark = pytest.mark.e2e

KINDS = ("to_review", "overdue", "expiring")
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module", autouse=True)
def caught_up(system: System) -> None:
    """A fresh system first replays the topics' history (long on a shared broker)."""
    print(f"system caught up with the topics in {wait_until_caught_up(system):.1f}s")


def work_queue(system: System, office: Office, kind: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of the office's list ``kind``, page by page."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"kind": kind, "limit": 2, **params}
    while True:
        response = system.get("portal", "/work-queue", office.adviser, params=query)
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        if response.json()["next_cursor"] is None:
            return items
        query["cursor"] = response.json()["next_cursor"]


def summary(system: System, office: Office, **params: Any) -> dict[str, int]:
    response = system.get("portal", "/work-queue/summary", office.adviser, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def listed(system: System, office: Office, kind: str, **params: Any) -> list[str]:
    return [item["document_id"] for item in work_queue(system, office, kind, **params)]


def the_queue(system: System, office: Office) -> dict[str, list[dict[str, Any]]]:
    return {kind: work_queue(system, office, kind) for kind in KINDS}


def test_a_clients_delivery_waits_for_review_until_the_adviser_approves_it(
    system: System,
) -> None:
    office, dossier = system.office(), "dossier-1"
    request_document(system, office, dossier, "identiteitsbewijs", title="Identiteitsbewijs")
    requested = dossier_check_when(system, office, dossier, 1)["identiteitsbewijs"]
    document_id = requested["document_id"]

    delivered = deliver(system, office, dossier, document_id)

    def waiting() -> dict[str, Any]:
        return the_one(work_queue(system, office, "to_review"))

    item = eventually(waiting, timeout=SETTLE)
    assert (item["document_id"], item["dossier_id"], item["status"]) == (
        document_id,
        dossier,
        "uploaded",
    )
    assert item["title"] == "Identiteitsbewijs" and item["subject"] == requested["subject"]
    assert item["action_point_id"] == requested["action_point"]["action_point_id"]
    since = moment(item["since"]) - moment(delivered["file"]["uploaded_at"])
    assert abs(since) < timedelta(seconds=1)
    assert summary(system, office)["to_review"] == 1

    assert review(system, office.adviser, document_id, "approve").status_code == 200
    eventually(lambda: _assert(listed(system, office, "to_review") == []), timeout=SETTLE)
    assert summary(system, office)["to_review"] == 0


def test_an_open_action_point_past_its_due_date_is_overdue_until_delivered(
    system: System,
) -> None:
    office, dossier = system.office(), "dossier-1"
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    request_document(system, office, dossier, "loonstrook", due_at=due.isoformat())
    request_document(system, office, dossier, "jaaropgave")  # no due date: never overdue
    documents = dossier_check_when(system, office, dossier, 2)
    payslip = documents["loonstrook"]

    def overdue() -> dict[str, Any]:
        return the_one(work_queue(system, office, "overdue"))

    item = eventually(overdue, timeout=SETTLE)
    assert (item["document_id"], item["status"]) == (payslip["document_id"], "requested")
    assert item["action_point_id"] == payslip["action_point"]["action_point_id"]
    assert moment(item["since"]) == moment(item["due_at"]) == due
    assert summary(system, office)["overdue"] == 1

    # Delivered: no longer overdue, and now it waits for review.
    deliver(system, office, dossier, payslip["document_id"])
    eventually(
        lambda: _assert(
            (listed(system, office, "overdue"), listed(system, office, "to_review"))
            == ([], [payslip["document_id"]])
        ),
        timeout=SETTLE,
    )


def test_a_delivery_whose_window_ends_within_the_horizon_is_expiring(system: System) -> None:
    office, dossier = system.office(), "dossier-1"
    assert configure_type(system, office, "loonstrook", valid_for="P10D").status_code == 200
    assert configure_type(system, office, "taxatierapport", valid_for="P6M").status_code == 200
    request_document(system, office, dossier, "loonstrook")
    request_document(system, office, dossier, "taxatierapport")
    documents = dossier_check_when(system, office, dossier, 2)
    payslip = deliver(system, office, dossier, documents["loonstrook"]["document_id"])
    deliver(system, office, dossier, documents["taxatierapport"]["document_id"])

    # Within P14D (the default) only the payslip's window ends; within P7M both, soonest first.
    def expiring() -> dict[str, Any]:
        return the_one(work_queue(system, office, "expiring"))

    item = eventually(expiring, timeout=SETTLE)
    assert item["document_id"] == payslip["document_id"]
    assert moment(item["valid_until"]) == moment(item["since"]) == moment(payslip["valid_until"])
    assert listed(system, office, "expiring", within="P7D") == []

    def both_within_seven_months() -> None:
        # (the second delivery may reach the portal a moment after the first)
        assert listed(system, office, "expiring", within="P7M") == [
            documents["loonstrook"]["document_id"],
            documents["taxatierapport"]["document_id"],
        ]

    eventually(both_within_seven_months, timeout=SETTLE)
    assert summary(system, office, within="P7M") == {"to_review": 2, "overdue": 0, "expiring": 2}
    bad = system.get("portal", "/work-queue/summary", office.adviser, params={"within": "14d"})
    assert bad.status_code == 422 and "ISO 8601 duration" in bad.text


def test_another_office_sees_nothing_of_it_and_only_an_adviser_reads_it(system: System) -> None:
    office, dossier = system.office(), "dossier-1"
    request_document(system, office, dossier, "identiteitsbewijs")
    document_id = dossier_check_when(system, office, dossier, 1)["identiteitsbewijs"]["document_id"]
    deliver(system, office, dossier, document_id)
    eventually(
        lambda: _assert(listed(system, office, "to_review") == [document_id]), timeout=SETTLE
    )

    other = system.office()
    assert the_queue(system, other) == {kind: [] for kind in KINDS}
    assert summary(system, other) == {"to_review": 0, "overdue": 0, "expiring": 0}
    for headers, status in ((office.client(dossier), 403), (office.admin, 403), ({}, 401)):
        answer = system.get("portal", "/work-queue", headers, params={"kind": "to_review"})
        assert answer.status_code == status, answer.text


# --- rebuilding it -------------------------------------------------------------------------------


def an_office_with_work(system: System) -> tuple[Office, dict[str, list[dict[str, Any]]]]:
    """An office with something in every list; its queue once the portal shows all of it."""
    office, dossier = system.office(), "dossier-1"
    assert configure_type(system, office, "loonstrook", valid_for="P10D").status_code == 200
    due = datetime.now(UTC) - timedelta(days=1)  # due yesterday: overdue at once
    request_document(system, office, dossier, "loonstrook")
    request_document(system, office, dossier, "jaaropgave", due_at=due.isoformat())
    payslip = dossier_check_when(system, office, dossier, 2)["loonstrook"]
    deliver(system, office, dossier, payslip["document_id"])

    def complete() -> dict[str, list[dict[str, Any]]]:
        queue = the_queue(system, office)
        assert [len(queue[kind]) for kind in KINDS] == [1, 1, 1], queue
        return queue

    return office, eventually(complete, timeout=SETTLE)


def test_a_replay_rebuilds_the_same_queue(system: System) -> None:
    office, queue = an_office_with_work(system)

    _serving_after(system, _replayed(system))

    assert the_queue(system, office) == queue


def test_a_model_written_before_the_work_queue_gets_it_by_itself(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    office, queue = an_office_with_work(system)
    for name, value in system.env.items():
        if name.startswith("ACTIEPUNTEN_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.setenv(name, value)
    settings = Settings.from_env("portal", require_secret=False)

    # The portal stops; its model becomes what the code before the work queue wrote: that
    # code's tables with the rows the portal had (the client portal, settings, positions).
    system.stop("portal")
    try:
        before = written_before_the_work_queue(settings)
        activate(settings, before)
    finally:
        system.start("portal")

    # Started on it, the portal rebuilds it from the topic in the background and switches.
    def upgraded() -> None:
        log = (system.data_dir / "portal.log").read_text(errors="replace")
        assert f"read model {before} was built by older projections" in log
        assert the_queue(system, office) == queue

    eventually(upgraded, timeout=300, interval=1.0)
    assert current_name(settings) != before


# --- a model in the shape of tests/data/portal_model_v1.sql ------------------------------------

_TABLES = re.compile(r"^CREATE TABLE (\w+) \((.*?)\n\)", re.S | re.M)
_COLUMN = re.compile(r"^\s+([a-z_]+) [A-Z]", re.M)


def written_before_the_work_queue(settings: Settings) -> str:
    """A copy of the served model in the tables of ``portal_model_v1.sql``; its name."""
    ddl = [
        statement.strip()
        for statement in (DATA / "portal_model_v1.sql").read_text().split(";\n")
        if statement.strip().startswith("CREATE")
    ]
    copies = [
        f"INSERT INTO {{to}}{table} ({names}) SELECT {names} FROM {{served}}.{table}"
        for table, body in _TABLES.findall("\n".join(ddl))
        for names in [", ".join(_COLUMN.findall(body))]
    ]
    assert len(copies) == 3, copies  # action points, office settings, positions
    served = current_name(settings)
    if settings.persistence == "postgres":
        import psycopg

        name = "actiepunten_portal_before_work_queue"
        with psycopg.connect(**settings.postgres_params()) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
            conn.execute(f"SET search_path TO {name}")
            for statement in ddl + [copy.format(to="", served=served) for copy in copies]:
                conn.execute(statement)
        return name
    name = "portal-before-work-queue.sqlite"
    db = sqlite3.connect(settings.data_dir / name)
    db.execute("ATTACH DATABASE ? AS served", (str(settings.data_dir / served),))
    for statement in ddl + [copy.format(to="main.", served="served") for copy in copies]:
        db.execute(statement)
    db.commit()
    db.close()
    return name


def _assert(condition: bool) -> None:
    assert condition


def the_one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]
