"""Story: records published at dataversion 1 are still read correctly after version 2 came."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from services.dossiercontrole_service import kafka as check_kafka
from services.dossiercontrole_service.application import DossierChecks
from shared.events import contracts as c
from shared.events import topics
from shared.events.codec import CURRENT_DATAVERSION, InvalidEvent, decode, encode

STORED_V1 = Path(__file__).parent.parent / "data" / "document_requested_v1.jsonl"


def stored_v1_records() -> list[bytes]:
    lines = STORED_V1.read_text().splitlines()
    return [line.encode() for line in lines if line and not line.startswith("#")]


def test_version_one_records_are_upcast_to_version_two() -> None:
    # Three requests as the topic kept them from before version 2: explicit yes, explicit no,
    # and "not given".
    records = stored_v1_records()
    assert [json.loads(r)["dataversion"] for r in records] == [1, 1, 1]

    read = [decode(topics.SCENARIO, record) for record in records]

    assert CURRENT_DATAVERSION["DocumentRequested"] == 2
    assert all(isinstance(e, c.DocumentRequested) and e.dataversion == 2 for e in read)
    assert [e.data.action_point for e in read] == ["always", "never", "by_document_type"]
    # Everything else is as it was written.
    assert [e.data.document_type for e in read] == [
        "identiteitsbewijs",
        "finale_kwijting",
        "werkgeversverklaring",
    ]
    # Written again, they are version 2 records that read back the same.
    assert [decode(topics.SCENARIO, encode(e)) for e in read] == read


def test_a_newer_dataversion_than_the_reader_knows_is_refused_with_the_reason() -> None:
    record = json.loads(stored_v1_records()[0])
    record["dataversion"] = 3
    with pytest.raises(InvalidEvent, match="dataversion 3 is newer than this reader knows"):
        decode(topics.SCENARIO, json.dumps(record).encode())


def test_a_version_one_record_with_a_wrong_action_point_is_refused() -> None:
    record = json.loads(stored_v1_records()[0])
    record["data"]["action_point"] = "yes"
    with pytest.raises(InvalidEvent, match="action_point 'yes' is no boolean"):
        decode(topics.SCENARIO, json.dumps(record).encode())


def test_replaying_version_one_records_gives_the_dossier_check_they_meant(tmp_path: Path) -> None:
    # The dossier-check service replays the topic from the start, old records included.
    checks = DossierChecks(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(tmp_path / "dossiercontrole.sqlite"),
        }
    )
    handle = check_kafka.handlers(checks, now=lambda: datetime(2026, 3, 2, 9, 16, tzinfo=UTC))[
        "DocumentRequested"
    ]
    for offset, record in enumerate(stored_v1_records()):
        handle(decode(topics.SCENARIO, record), Tracking(f"{topics.SCENARIO}:0", offset + 1))

    documents = {
        d.document_type: d
        for d in checks.get_dossier_check("kantoor-v1", "dossier-v1").current_documents()
    }
    # true: an action point; false: none; not given: the type decides (unconfigured: yes).
    assert documents["identiteitsbewijs"].action_point.status == "open"
    assert documents["finale_kwijting"].action_point is None
    assert documents["werkgeversverklaring"].action_point.status == "open"
    checks.close()
