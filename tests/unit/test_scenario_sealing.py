"""Crypto-shredding in the scenario service's store (SPEC section 11): an adviser's document
request, a household's names and a lender's document list are stored sealed with their dossier's
data key, which the dossier check keeps (here its ``DataKeys`` on a SQLite file, asked as its
``POST /data-keys`` with ``make`` answers), and published sealed; a fresh process reads them
plain; once the dossier check destroys the key every reading gives "[gewist]", a republish
too. On a real SQLite store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking

from servicekit.crypto import ERASED, KeyEncryptionKeys, is_sealed
from servicekit.dossier_keys import HttpKeySource, MemoryKeySource
from servicekit.sealing import GONE, Gone, KeysUnreachable, open_published
from services.dossiercontrole_service.data_keys import DataKeys, SqliteKeys
from services.scenario_service import kafka as scenario_kafka
from services.scenario_service.application import (
    PERSONAL_AGGREGATES,
    STORED_NOT_PERSONAL,
    STORED_PERSONAL,
    ReceiveDocumentList,
    RequestDocument,
    Scenarios,
    SetHousehold,
)
from services.scenario_service.domainmodel import DocumentRequest, Household, Subject
from shared.events.personal import personal_values
from tests.unit.kafka_edge import MORTGAGE, OFFICE
from tests.unit.test_sealing import _text_keys

DOSSIER = "dossier-jan"
PERSONAL_TEXTS = (
    "Bankafschrift Jan de Vries, rekening bij de Rabobank",
    "Jan, graag ook de pagina met het saldo",
    "Jan de Vries",
    "Marie Jansen",
    "Verklaring van Jan over de schenking",
    "Alleen de ondertekende versie, Jan",
)
STORES = Path(__file__).parent.parent / "data"


class DossierCheckKeys:
    """The dossier check's answer to ``POST /data-keys`` with ``make``: its ``DataKeys.made``,
    counted (a save asks once)."""

    def __init__(self, path: Path) -> None:
        self.data_keys = DataKeys(
            KeyEncryptionKeys({"kek-1": b"k" * 32}), SqliteKeys(path / "data-keys.sqlite")
        )
        self.calls: list[list[str]] = []

    def keys(self, tenant: str, dossier_ids: list[str]) -> dict[str, bytes | Gone]:
        self.calls.append(list(dossier_ids))
        return self.data_keys.made(tenant, dossier_ids)


def store_at(path: Path, keys: Any) -> Scenarios:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path / "s.db")}
    return Scenarios(env=env, key_source=keys)


def fill(scenarios: Scenarios) -> UUID:
    """An adviser's request with a personal title and instructions, a household, a lender's
    list: each kind of personal field the store keeps."""
    request_id = scenarios.request_document(
        RequestDocument(
            OFFICE, DOSSIER, Subject.of(MORTGAGE), "bankafschrift", PERSONAL_TEXTS[0], True,
            "adviser:a", instructions=PERSONAL_TEXTS[1],
        )
    )  # fmt: skip
    persons = [
        {"role": "aanvrager", "name": PERSONAL_TEXTS[2]},
        {"role": "partner", "name": PERSONAL_TEXTS[3]},
    ]
    scenarios.set_household(SetHousehold(OFFICE, DOSSIER, persons, "adviser:a"))
    items = [
        {
            "document_type": "schenkingsverklaring",
            "title": PERSONAL_TEXTS[4],
            "instructions": PERSONAL_TEXTS[5],
        }
    ]
    scenarios.receive_document_list(
        ReceiveDocumentList(OFFICE, DOSSIER, Subject.of(MORTGAGE), "lijst-1", items, "bank")
    )
    return request_id


def raw_states(scenarios: Scenarios) -> list[bytes]:
    return [n.state for n in scenarios.recorder.select_notifications(1, 1000)]


def published(scenarios: Scenarios) -> list[Any]:
    translate = scenario_kafka.OUTBOX.translator(scenarios)
    return [
        event
        for n in scenarios.recorder.select_notifications(1, 1000)
        for event in translate(scenarios.mapper.to_domain_event(n))
    ]


def test_personal_fields_are_stored_sealed_and_a_fresh_process_reads_them_plain(
    tmp_path: Path,
) -> None:
    keys = DossierCheckKeys(tmp_path)
    scenarios = store_at(tmp_path, keys)
    request_id = fill(scenarios)
    states = raw_states(scenarios)
    for state in states:
        for text in (*PERSONAL_TEXTS, "Jan"):
            assert text.encode() not in state, (text, state[:300])
    assert sum(b'"enc:v1:' in state for state in states) == 3
    # One ask of the dossier check per save, for a dossier it had never heard of: made now.
    assert keys.calls == [[DOSSIER]]
    scenarios.close()

    # A fresh process over the same files (and the dossier check's keys) reads plain text.
    again = store_at(tmp_path, DossierCheckKeys(tmp_path))
    request: DocumentRequest = again.repository.get(request_id)
    assert (request.title, request.instructions) == PERSONAL_TEXTS[:2]
    assert [p["name"] for p in again.get_household(OFFICE, DOSSIER)] == list(PERSONAL_TEXTS[2:4])
    assert again.get_owned(Household.create_id(OFFICE, DOSSIER)).persons[0]["role"] == "aanvrager"


def test_the_published_requests_carry_the_personal_fields_sealed(tmp_path: Path) -> None:
    keys = DossierCheckKeys(tmp_path)
    scenarios = store_at(tmp_path, keys)
    fill(scenarios)
    events = published(scenarios)
    values = [v for event in events for v in personal_values(event)]
    assert len(values) == 4 and all(is_sealed(v) for v in values), values
    key = keys.data_keys.get(OFFICE, DOSSIER)
    assert key is not None
    opened = {
        v for e in events for v in personal_values(open_published(e, key, f"{OFFICE}:{DOSSIER}"))
    }
    assert opened == {*PERSONAL_TEXTS[:2], *PERSONAL_TEXTS[4:]}


def test_a_destroyed_key_erases_every_reading_but_changes_no_stored_event(tmp_path: Path) -> None:
    keys = DossierCheckKeys(tmp_path)
    scenarios = store_at(tmp_path, keys)
    request_id = fill(scenarios)
    before = raw_states(scenarios)
    scenarios.close()
    keys.data_keys.erase(OFFICE, DOSSIER, datetime.now(UTC))

    again = store_at(tmp_path, DossierCheckKeys(tmp_path))  # nothing kept in memory
    assert raw_states(again) == before
    request: DocumentRequest = again.repository.get(request_id)
    assert (request.title, request.instructions) == (ERASED, ERASED)
    assert {p["name"] for p in again.get_household(OFFICE, DOSSIER)} == {ERASED}
    # A republish publishes the fields as erased.
    assert {v for event in published(again) for v in personal_values(event)} == {ERASED}


def test_a_batch_of_document_lists_asks_for_its_keys_once(tmp_path: Path) -> None:
    keys = DossierCheckKeys(tmp_path)
    scenarios = store_at(tmp_path, keys)
    items = [{"document_type": "loonstrook", "title": "Loonstrook Jan"}]
    commands = [
        ReceiveDocumentList(OFFICE, f"d-{i}", Subject.of(MORTGAGE), f"ref-{i}", items, "bank")
        for i in range(50)
    ]
    scenarios.receive_document_lists(commands, Tracking("actiepunten.stukkenlijsten.v1:0", 1))
    assert len(keys.calls) == 1 and len(keys.calls[0]) == 50
    assert all(b"Loonstrook Jan" not in state for state in raw_states(scenarios))


def test_a_dossier_check_that_does_not_answer_stores_nothing(tmp_path: Path) -> None:
    unreachable = HttpKeySource("http://127.0.0.1:9", "s" * 32, name="scenario", timeout=1)
    scenarios = store_at(tmp_path, unreachable)
    with pytest.raises(KeysUnreachable) as refused:
        fill(scenarios)
    assert isinstance(refused.value, ConnectionError)  # the consumer retries the record
    assert raw_states(scenarios) == []


def test_a_store_in_memory_keeps_its_keys_in_memory() -> None:
    keys = MemoryKeySource()
    scenarios = Scenarios(key_source=keys)
    request_id = fill(scenarios)
    assert scenarios.repository.get(request_id).title == PERSONAL_TEXTS[0]
    keys.erase(OFFICE, DOSSIER)
    scenarios.keys._keys.clear()  # past the 30 s a key is kept
    assert scenarios.keys.published_key(OFFICE, DOSSIER) is GONE
    # And without a source given: keys made in memory (the unit tests' Scenarios()).
    plain = Scenarios()
    assert plain.repository.get(fill(plain)).title == PERSONAL_TEXTS[0]


def _stored_texts(lines: list[str]) -> set[str]:
    names = {cls.__name__ for cls in PERSONAL_AGGREGATES}
    keys: set[str] = set()
    for line in lines:
        if line and not line.startswith("#"):
            record = json.loads(line)
            if record["topic"].split(":")[1].split(".")[0] in names:
                _text_keys(json.loads(record["state"]), keys)
    return keys


def test_every_text_of_a_stored_scenario_aggregate_is_declared_personal_or_not() -> None:
    """A new attribute holding text in the events of an aggregate with personal data must be
    declared in ``STORED_PERSONAL`` or ``STORED_NOT_PERSONAL`` (``scenario_service.
    application``)."""
    keys = _stored_texts((STORES / "scenario_store_v1.jsonl").read_text().splitlines())
    assert keys and keys - STORED_PERSONAL - STORED_NOT_PERSONAL == set()


def test_every_text_of_todays_scenario_store_is_declared_personal_or_not(tmp_path: Path) -> None:
    scenarios = store_at(tmp_path, DossierCheckKeys(tmp_path))
    fill(scenarios)
    lines = [
        json.dumps({"topic": n.topic, "state": n.state.decode()})
        for n in scenarios.recorder.select_notifications(1, 1000)
    ]
    keys = _stored_texts(lines)
    assert {"title", "instructions", "name"} <= keys
    assert keys - STORED_PERSONAL - STORED_NOT_PERSONAL == set()
