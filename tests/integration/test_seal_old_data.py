"""Story: an office upgrades to sealed personal fields with a store that today's main wrote
(`tests/data/dossiercheck_store_v4.jsonl`, made by `make_store_before_sealing.py` at 0f7e7ec:
titles, instructions, filenames, a rejection reason and a client's note in plain text). The
operator counts first (`--dry-run` changes nothing), seals once, and then the store holds none
of those texts, reads exactly as before, and a second run finds nothing left; a dossier erased
before the upgrade loses its plain text to "[gewist]". On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicekit.crypto import ERASED
from services.dossiercontrole_service.application import DossierChecks
from services.dossiercontrole_service.data_keys import data_keys
from services.dossiercontrole_service.domainmodel import DossierCheck
from services.dossiercontrole_service.old_data import seal_old_data
from tests.integration.test_shared_blobs import store_config
from tests.unit.test_old_dossier_check_stores import as_stored_event, stored

STORE_V4 = Path(__file__).parent.parent / "data" / "dossiercheck_store_v4.jsonl"
OFFICE, DOSSIER = "kantoor-oud", "dossier-verzegeld"
PLAIN = (
    "Paspoort Jan de Vries",
    "Beide zijden, Jan",
    "paspoort-jan-de-vries.pdf",
    "Jan, de achterkant ontbreekt",
    "Jan is zelfstandige sinds maart",
)
CHECK_ID = DossierCheck.create_id(OFFICE, DOSSIER)


def old_store(persistence: str, request: pytest.FixtureRequest, tmp_path: Path) -> DossierChecks:
    """The old store's events and snapshot, as the upgraded service opens them."""
    config = store_config(persistence, request, tmp_path)
    app = DossierChecks(env=config.eventstore_env("dossiercontrole"), keys=data_keys(config))
    app.recorder.insert_events([as_stored_event(r) for r in stored("event", STORE_V4)])
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events([as_stored_event(r) for r in stored("snapshot", STORE_V4)])
    return app


def raw(app: DossierChecks) -> bytes:
    assert app.snapshots is not None
    events = app.recorder.select_events(CHECK_ID)
    snapshots = app.snapshots.recorder.select_events(CHECK_ID)
    return b"\n".join(bytes(e.state) for e in (*events, *snapshots))


def documents(app: DossierChecks) -> dict[str, object]:
    app.repository.cache = None  # read from the store, not from memory
    return dict(app.repository.get(CHECK_ID).documents)


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_an_old_store_is_sealed_once_and_reads_as_before(
    persistence: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app = old_store(persistence, request, tmp_path)
    before, as_it_was = raw(app), documents(app)
    assert all(text.encode() in before for text in PLAIN)

    counted = seal_old_data(app, dry_run=True)
    assert (counted.dossiers, counted.keys_made, counted.erased) == (1, 1, 0)
    assert counted.events >= 5 and counted.snapshots == 1, counted
    assert raw(app) == before  # a dry run changes nothing
    assert app.keys.get(OFFICE, DOSSIER) is None

    sealed = seal_old_data(app, dry_run=False)
    assert (sealed.events, sealed.snapshots) == (counted.events, counted.snapshots)
    after = raw(app)
    assert not [text for text in PLAIN if text.encode() in after]
    assert b'"enc:v1:' in after
    assert documents(app) == as_it_was
    # A fresh process reads the same; a second run finds nothing left to seal.
    config = store_config(persistence, request, tmp_path) if persistence == "sqlite" else None
    if config is not None:
        again = DossierChecks(env=config.eventstore_env("dossiercontrole"), keys=data_keys(config))
        assert documents(again) == as_it_was
    assert seal_old_data(app, dry_run=False).events == 0


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_a_dossier_erased_before_the_upgrade_loses_its_plain_text(
    persistence: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app = old_store(persistence, request, tmp_path)
    app.keys.erase(OFFICE, DOSSIER, app.repository.get(CHECK_ID).modified_on)
    sealed = seal_old_data(app, dry_run=False)
    assert (sealed.erased, sealed.keys_made) == (1, 0) and sealed.events >= 5
    after = raw(app)
    assert not [text for text in PLAIN if text.encode() in after]
    assert {d.title for d in documents(app).values()} == {ERASED}  # type: ignore[attr-defined]
