"""Crypto-shredding in the dossier check's store (SPEC section 11): a dossier's personal fields
are stored sealed with its data key, in its events and its snapshots, and read opened; once the
key is destroyed the stored events are unchanged and every reading of them gives "[gewist]",
in a fresh process too, and so does what the outbox publishes from them (a republish). On a
real SQLite store and key file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from servicekit.crypto import ERASED, is_sealed
from servicekit.sealing import STORED_NOT_PERSONAL, STORED_PERSONAL, open_published
from services.dossiercontrole_service import kafka as dossiercontrole_kafka
from services.dossiercontrole_service.application import (
    AddRequestedDocument,
    ClaimNotApplicable,
    DossierChecks,
    ReviewDocument,
    UploadDocument,
)
from services.dossiercontrole_service.domainmodel import (
    DossierCheck,
    action_point_id_for,
    document_id_for,
)
from shared.events.personal import personal_values
from tests.unit.kafka_edge import MORTGAGE, NOW, OFFICE

DOSSIER = "dossier-jan"
PERSONAL_TEXTS = (
    "Paspoort Jan de Vries",
    "Beide zijden, Jan",
    "paspoort-jan-de-vries.pdf",
    "Jan, de achterkant ontbreekt",
    "Jan is zelfstandige",
)
STORES = Path(__file__).parent.parent / "data"
R = [UUID(int=i + 901) for i in range(3)]


def store_at(path: Path) -> DossierChecks:
    return DossierChecks(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path / "s.db")}
    )


def fill(checks: DossierChecks) -> None:
    """A dossier with each kind of personal field: titles, instructions, filenames, a rejection
    reason and a client's note; a snapshot between them."""
    jan = {**MORTGAGE, "person": {"role": "aanvrager"}}

    def add(request_id: UUID, kind: str, title: str, **extra: Any) -> None:
        checks.add_requested_document(
            AddRequestedDocument(OFFICE, DOSSIER, request_id, jan, kind, title, True, NOW, **extra)
        )

    add(R[0], "identiteitsbewijs", PERSONAL_TEXTS[0], instructions=PERSONAL_TEXTS[1])
    add(R[1], "loonstrook", "Loonstrook Jan", period="januari 2026")
    add(R[2], "werkgeversverklaring", "Werkgeversverklaring Jan")
    passport = document_id_for(R[0])
    pdf = {"sha256": "d" * 64, "size": 10, "content_type": "application/pdf"}
    file = {**pdf, "filename": PERSONAL_TEXTS[2]}
    checks.upload(UploadDocument(OFFICE, passport, file, "client:k", NOW))
    checks.review(ReviewDocument(OFFICE, passport, "reject", PERSONAL_TEXTS[3], "adviser:a", NOW))
    checks.take_snapshot(DossierCheck.create_id(OFFICE, DOSSIER))
    claim = ClaimNotApplicable(
        OFFICE, action_point_id_for(R[2]), PERSONAL_TEXTS[4], "client:k", NOW
    )
    checks.claim_not_applicable(claim)


def raw_states(checks: DossierChecks) -> list[bytes]:
    """Every stored event and snapshot of the dossier check, as the store holds it."""
    check_id = DossierCheck.create_id(OFFICE, DOSSIER)
    assert checks.snapshots is not None
    return [e.state for e in checks.recorder.select_events(check_id)] + [
        s.state for s in checks.snapshots.recorder.select_events(check_id)
    ]


def titles(checks: DossierChecks) -> set[str]:
    check = checks.repository.get(DossierCheck.create_id(OFFICE, DOSSIER))
    return {document.title for document in check.documents.values()}


def test_personal_fields_are_stored_sealed_and_read_opened(tmp_path: Path) -> None:
    checks = store_at(tmp_path)
    fill(checks)
    states = raw_states(checks)
    assert len(states) >= 8
    for state in states:
        for text in (*PERSONAL_TEXTS, "Jan"):
            assert text.encode() not in state, (text, state[:300])
    assert any(b'"enc:v1:' in state for state in states)
    # A fresh process over the same files reads the plain text, from events and snapshot.
    again = store_at(tmp_path)
    assert titles(again) == {PERSONAL_TEXTS[0], "Loonstrook Jan", "Werkgeversverklaring Jan"}
    document = again.repository.get(DossierCheck.create_id(OFFICE, DOSSIER)).documents[
        str(document_id_for(R[0]))
    ]
    assert document.rejection_reason == PERSONAL_TEXTS[3]
    assert document.instructions == PERSONAL_TEXTS[1]
    assert document.files[0].filename == PERSONAL_TEXTS[2]


def test_the_published_events_carry_the_personal_fields_sealed(tmp_path: Path) -> None:
    checks = store_at(tmp_path)
    fill(checks)
    translate = dossiercontrole_kafka.OUTBOX.translator(checks)
    published = [
        event
        for n in checks.recorder.select_notifications(1, 1000)
        for event in translate(checks.mapper.to_domain_event(n))
    ]
    values = [v for event in published for v in personal_values(event)]
    assert len(values) >= 8 and all(is_sealed(v) for v in values), values
    key = checks.keys.published_key(OFFICE, DOSSIER)
    assert isinstance(key, bytes)
    opened = [open_published(e, key, f"{OFFICE}:{DOSSIER}") for e in published]
    plain = {v for event in opened for v in personal_values(event)}
    assert set(PERSONAL_TEXTS) <= plain
    # Another dossier's associated data does not open them.
    wrong = {v for e in published for v in personal_values(open_published(e, key, "x:y"))}
    assert wrong == {ERASED}


def test_a_destroyed_key_erases_every_reading_but_changes_no_stored_event(tmp_path: Path) -> None:
    checks = store_at(tmp_path)
    fill(checks)
    before = raw_states(checks)
    checks.keys.erase(OFFICE, DOSSIER, NOW)
    again = store_at(tmp_path)  # a fresh process: nothing kept in memory
    assert raw_states(again) == before
    assert titles(again) == {ERASED}
    # A republish of the stored events publishes the fields as erased, and so plain.
    translate = dossiercontrole_kafka.OUTBOX.translator(again)
    published = [
        event
        for n in again.recorder.select_notifications(1, 1000)
        for event in translate(again.mapper.to_domain_event(n))
    ]
    values = {v for event in published for v in personal_values(event)}
    assert values == {ERASED}


def _text_keys(value: Any, into: set[str], key: str | None = None) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _text_keys(v, into, k)
    elif isinstance(value, list):
        for item in value:
            _text_keys(item, into, key)
    elif isinstance(value, str) and key is not None:
        into.add(key)


@pytest.mark.parametrize("fixture", ["v1", "v2", "v3", "v4"])
def test_every_text_of_a_stored_dossier_check_is_declared_personal_or_not(fixture: str) -> None:
    """A new attribute holding text in a dossier check's events or snapshot must be declared
    in ``STORED_PERSONAL`` or ``STORED_NOT_PERSONAL`` (``servicekit.sealing``)."""
    keys: set[str] = set()
    for line in (STORES / f"dossiercheck_store_{fixture}.jsonl").read_text().splitlines():
        if line and not line.startswith("#"):
            record = json.loads(line)
            if "DossierCheck" in record["topic"] or record["kind"] == "snapshot":
                _text_keys(json.loads(record["state"]), keys)
    assert keys - STORED_PERSONAL - STORED_NOT_PERSONAL == set()


def test_every_text_of_todays_dossier_check_is_declared_personal_or_not(tmp_path: Path) -> None:
    checks = store_at(tmp_path)
    fill(checks)
    keys: set[str] = set()
    for state in raw_states(checks):
        _text_keys(json.loads(state), keys)
    assert keys - STORED_PERSONAL - STORED_NOT_PERSONAL == set()


def test_a_replica_reads_what_another_sealed_in_an_upgraded_store(
    tmp_path: Path,
) -> None:
    """An upgraded store whose old plain text was not sealed yet: replica B read the dossier
    (no key then), replica A then stores a new document sealed with a new key; B reads it."""
    from tests.unit.test_old_dossier_check_stores import as_stored_event, stored

    store_v4 = STORES / "dossiercheck_store_v4.jsonl"
    a, b = store_at(tmp_path), store_at(tmp_path)
    a.recorder.insert_events([as_stored_event(r) for r in stored("event", store_v4)])
    check_id = DossierCheck.create_id("kantoor-oud", "dossier-verzegeld")
    assert len(b.repository.get(check_id).documents) == 3  # read with no key: None kept
    a.add_requested_document(
        AddRequestedDocument(
            "kantoor-oud", "dossier-verzegeld", R[0], MORTGAGE, "bankafschrift",
            "Bankafschrift Jan", True, NOW,
        )
    )  # fmt: skip
    assert b"Bankafschrift Jan" not in b"".join(e.state for e in a.recorder.select_events(check_id))
    b.repository.cache = None
    titles = {d.title for d in b.repository.get(check_id).documents.values()}
    assert "Bankafschrift Jan" in titles and ERASED not in titles


def test_a_text_that_only_looks_sealed_is_sealed_and_reads_as_given(tmp_path: Path) -> None:
    """A client may name a file ``enc:v1:...``: it is personal text like any other, stored
    sealed and read back as given (it was once kept plain, and its dossier no longer opened)."""
    checks = store_at(tmp_path)
    fill(checks)
    lookalikes = ("enc:v1:", "enc:v1:not base64!.pdf", "enc:v1:" + "A" * 48 + ".pdf")
    passport = document_id_for(R[0])
    pdf = {"sha256": "e" * 64, "size": 10, "content_type": "application/pdf"}
    for name in lookalikes:
        file = {**pdf, "filename": name}
        checks.upload(UploadDocument(OFFICE, passport, file, "client:k", NOW))
    for state in raw_states(checks):
        assert b"not base64" not in state and b"A" * 48 not in state
    again = store_at(tmp_path)
    document = again.repository.get(DossierCheck.create_id(OFFICE, DOSSIER)).documents[
        str(passport)
    ]
    assert [file.filename for file in document.files][-len(lookalikes) :] == list(lookalikes)
    key = again.keys.published_key(OFFICE, DOSSIER)
    assert isinstance(key, bytes)
    translate = dossiercontrole_kafka.OUTBOX.translator(again)
    published = [
        event
        for n in again.recorder.select_notifications(1, 1000)
        for event in translate(again.mapper.to_domain_event(n))
    ]
    assert all(is_sealed(v) for event in published for v in personal_values(event))
    plain = {
        v
        for event in published
        for v in personal_values(open_published(event, key, f"{OFFICE}:{DOSSIER}"))
    }
    assert set(lookalikes) <= plain
