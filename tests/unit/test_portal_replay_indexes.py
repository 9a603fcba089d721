"""A replay fills a new read model without its secondary indexes and makes them once the rows
are in; a projection whose statements find rows by one of them has it made first
(``views.READS_INDEX``). Each projection's statement is checked against SQLite's query plan."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking

from services.portal_projection.stores import SQLiteStore, Statement
from services.portal_projection.views import PROJECTIONS, READS_INDEX, PortalView, _listed
from services.portal_projection.work_queue import DOCUMENTS
from shared.events import contracts as c
from shared.events.codec import new_event
from tests.unit.test_contracts import DATA, event_of

KINDS = {kind.model_fields["type"].default: kind for kind in DATA}
PROJECTED = sorted({*PROJECTIONS, *DOCUMENTS})


def statements(event_type: str) -> list[Statement]:
    event = event_of(KINDS[event_type])
    return [
        statement
        for projections in (PROJECTIONS, DOCUMENTS)
        if event_type in projections
        for statement in _listed(projections[event_type](event))
    ]


def indexes(store: SQLiteStore) -> set[str]:
    rows = store.query("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return {row["name"] for row in rows}


@pytest.mark.parametrize("event_type", PROJECTED)
def test_a_projection_reads_no_secondary_index_but_the_one_it_declares(
    tmp_path: Path, event_type: str
) -> None:
    store = SQLiteStore(tmp_path / "portal.sqlite")
    secondary = indexes(store)
    used = set()
    for sql, params in statements(event_type):
        for row in store.query(f"EXPLAIN QUERY PLAN {sql}", params):
            used |= set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", row["detail"]))
    assert used & secondary <= {READS_INDEX.get(event_type)}


def test_a_replay_makes_the_indexes_once_its_rows_are_in(tmp_path: Path) -> None:
    served = SQLiteStore(tmp_path / "served.sqlite")
    rebuilding = SQLiteStore(tmp_path / "new.sqlite", rebuilding=True)
    view = PortalView(rebuilding)

    assert indexes(rebuilding) == set()
    view.process_many([event_of(c.ActionPointOpened)], Tracking("t:0", 1))
    assert indexes(rebuilding) == set()
    rebuilding.rebuilt()
    assert indexes(rebuilding) == indexes(served)


def test_a_replay_makes_an_index_as_soon_as_a_batch_reads_by_it(tmp_path: Path) -> None:
    view = PortalView(SQLiteStore(tmp_path / "new.sqlite", rebuilding=True))
    point, document = uuid4(), uuid4()
    opened = new_event(
        c.ActionPointOpened,
        {**DATA[c.ActionPointOpened], "action_point_id": point, "document_id": document},
        source="actiepunten/test",
        tenant="kantoor-utrecht",
        dossier="dossier-1",
    )
    uploaded = new_event(
        c.DocumentUploaded,
        {**DATA[c.DocumentUploaded], "document_id": document},
        source="actiepunten/test",
        tenant="kantoor-utrecht",
        dossier="dossier-1",
    )

    view.process_many([opened, uploaded], Tracking("t:0", 2))

    assert indexes(view.store) == {"action_points_by_document"}  # type: ignore[arg-type]
    [row] = view.action_points("kantoor-utrecht", DATA[c.ActionPointOpened]["dossier_id"])
    assert row["document_status"] == "uploaded"


def test_a_batch_of_many_openings_with_a_repeat_among_them_opens_each_point_once(
    tmp_path: Path,
) -> None:
    # More rows than one statement of many rows takes (views.MAX_PARAMETERS), one of them twice:
    # the repeat changes nothing, as it would as a statement of its own.
    view = PortalView(SQLiteStore(tmp_path / "new.sqlite", rebuilding=True))
    openings = [
        new_event(
            c.ActionPointOpened,
            {**DATA[c.ActionPointOpened], "action_point_id": uuid4(), "title": f"Stuk {n}"},
            source="actiepunten/test",
            tenant="kantoor-utrecht",
            dossier="dossier-1",
        )
        for n in range(200)
    ]
    repeated = openings[150].model_copy(
        update={"data": openings[150].data.model_copy(update={"title": "Later"})}
    )

    view.process_many([*openings[:160], repeated, *openings[160:]], Tracking("t:0", 201))

    rows = view.action_points("kantoor-utrecht", DATA[c.ActionPointOpened]["dossier_id"])
    assert len(rows) == 200
    assert {row["title"] for row in rows} == {f"Stuk {n}" for n in range(200)}
