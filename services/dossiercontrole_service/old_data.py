"""Sealing what was stored before personal fields were sealed (SPEC section 11, issue 22).

A dossier check stored by an earlier version holds its personal fields in plain text, in its
events and snapshots; destroying a key would erase nothing of them. ``seal_old_data`` (the
command ``actiepunten keys seal-old-data``, run once after the upgrade, with ``--dry-run`` to
count first) gives every such dossier a key and rewrites those stored events in place with the
fields sealed: the one change to stored events this service ever makes, and it changes no
meaning (each event reads exactly as before). A dossier erased before the upgrade has no key:
its old fields are rewritten as ``"[gewist]"``, so they are erased now. Records already on the
topics are not the store's: see the README ("Privacy and retention").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import sql

from servicekit.sealing import GONE, Gone, seal_state
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.data_keys import KeyErased
from services.dossiercontrole_service.domainmodel import DossierCheck

OPENED = ":DossierCheck.Opened"  # the topic's end of a dossier check's first event
PAGE = 1000


@dataclass
class Sealed:
    """What ``seal_old_data`` did (or would do, in a dry run)."""

    dossiers: int = 0  # dossier checks found
    keys_made: int = 0
    erased: int = 0  # dossiers erased before: their old fields become "[gewist]"
    events: int = 0  # stored events rewritten
    snapshots: int = 0

    def __str__(self) -> str:
        return (
            f"{self.dossiers} dossier checks ({self.keys_made} given a key, {self.erased} erased "
            f"before), {self.events} stored events and {self.snapshots} snapshots with personal "
            "fields in plain text"
        )


def seal_old_data(app: DossierChecks, *, dry_run: bool) -> Sealed:
    """Seal the personal fields that ``app``'s store holds in plain text; what it did."""
    done = Sealed()
    keys: dict[UUID, bytes | Gone] = {}
    for stored in _every_event(app):
        if stored.topic.endswith(OPENED):
            done.dossiers += 1
            keys[_uuid(stored.originator_id)] = _key(app, stored, done, dry_run=dry_run)
    for stored in _every_event(app):
        key = keys.get(_uuid(stored.originator_id))
        if key is not None and _rewrite(app.recorder, stored, key, dry_run=dry_run):
            done.events += 1
    assert app.snapshots is not None
    for check_id, key in keys.items():
        for snapshot in app.snapshots.recorder.select_events(check_id):
            if _rewrite(app.snapshots.recorder, snapshot, key, dry_run=dry_run):
                done.snapshots += 1
    return done


def _key(app: DossierChecks, opened: StoredEvent, done: Sealed, *, dry_run: bool) -> bytes | Gone:
    state = json.loads(opened.state)
    tenant, dossier_id = state["tenant"], state["dossier_id"]
    assert DossierCheck.create_id(tenant, dossier_id) == _uuid(opened.originator_id)
    try:
        key = app.keys.get(tenant, dossier_id)
    except KeyErased:
        done.erased += 1
        return GONE
    if key is not None:
        return key
    done.keys_made += 1
    return bytes(32) if dry_run else app.keys.key_for(tenant, dossier_id)


def _rewrite(recorder: Any, stored: StoredEvent, key: bytes | Gone, *, dry_run: bool) -> bool:
    sealed = seal_state(stored.state, key, str(stored.originator_id))
    if sealed == stored.state:
        return False
    if not dry_run:
        _update(recorder, stored, sealed)
    return True


def _update(recorder: Any, stored: StoredEvent, state: bytes) -> None:
    table = recorder.events_table_name
    with recorder.datastore.transaction(commit=True) as cursor:
        if hasattr(recorder.datastore, "schema"):  # PostgreSQL
            statement = sql.SQL(
                "UPDATE {schema}.{table} SET state = %s "
                "WHERE originator_id = %s AND originator_version = %s"
            ).format(schema=sql.Identifier(recorder.datastore.schema), table=sql.Identifier(table))
            cursor.execute(statement, (state, stored.originator_id, stored.originator_version))
        else:
            cursor.execute(
                f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                (state, _uuid(stored.originator_id).hex, stored.originator_version),
            )


def _every_event(app: DossierChecks) -> Iterator[StoredEvent]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start, PAGE)
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
