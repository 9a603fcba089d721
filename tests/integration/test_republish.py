"""Operations re-emit a service's integration events (`actiepunten republish`), through the same
outbox relay as the live service: a stored event that no contract can carry is quarantined on the
service's DLQ with its reason, and the rest of the history still goes out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from actiepunten import ops
from devtools import Broker
from services.dossiercontrole_service.application import AddRequestedDocument, DossierChecks
from services.dossiercontrole_service.domainmodel import document_id_for
from shared.events import topics
from tests.conftest import store_params
from tests.support import read_records

pytestmark = pytest.mark.kafka

MORTGAGE = {"type": "product", "id": "hyp-1", "scope": "hypotheek"}


@pytest.fixture(params=store_params())
def operations_env(
    request: pytest.FixtureRequest,
    kafka: Broker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """The environment `actiepunten` runs in beside a service: its broker and its own store."""
    store = {"ACTIEPUNTEN_PERSISTENCE": "sqlite"}
    if request.param == "postgres":
        store = request.getfixturevalue("postgres").create_database(
            f"republish_{uuid.uuid4().hex[:12]}"
        )
    for name, value in {
        **store,
        "ACTIEPUNTEN_DATA_DIR": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "ACTIEPUNTEN_KAFKA_IDEMPOTENCE": "true" if kafka.supports_idempotence else "false",
    }.items():
        monkeypatch.setenv(name, value)
    yield


def test_republish_quarantines_a_stored_event_no_contract_can_carry_and_sends_the_rest(
    operations_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = f"kantoor-{uuid.uuid4().hex[:8]}"
    # The dossier check of an office holds two requested documents ...
    checks = DossierChecks(
        env=ops.settings_for("dossiercontrole").eventstore_env("dossiercontrole")
    )
    at = datetime.now(UTC)
    first, second = (uuid.uuid4() for _ in range(2))
    for request_id, document_type in ((first, "identiteitsbewijs"), (second, "loonstrook")):
        checks.add_requested_document(
            AddRequestedDocument(
                office, "dossier-1", request_id, MORTGAGE, document_type, None, None, at
            )
        )
    checks.close()
    # ... and the first of them can no longer be carried by the contract (say, an older shape).
    bad = document_id_for(first)
    open_store = ops.open_store

    def with_an_unpublishable_event(service: str) -> tuple[Any, Any, str]:
        app, translate, topic = open_store(service)

        def strict_translate(event: Any) -> Any:
            if getattr(event, "document_id", None) == bad:
                raise ValueError(f"title: too long for {office}")
            return translate(event)

        return app, strict_translate, topic

    monkeypatch.setattr(ops, "open_store", with_an_unpublishable_event)

    # Operations republish the dossier check's history.
    published = asyncio.run(ops.republish("dossiercontrole"))

    # The good document goes out again; the bad one is on the DLQ with the reason.
    assert published > 0
    added = read_records(
        ops.settings_for("dossiercontrole").kafka_bootstrap_servers,
        topics.DOSSIERCONTROLE,
        keep=lambda r: r.get("tenantid") == office and r.get("type") == "DocumentAdded",
        until=lambda found: len(found) >= 1,
    )
    assert {r["data"]["document_id"] for r in added} == {str(document_id_for(second))}
    [letter] = read_records(
        ops.settings_for("dossiercontrole").kafka_bootstrap_servers,
        topics.DOSSIERCONTROLE_DLQ,
        keep=lambda r: office in r.get("reason", ""),
        until=lambda found: len(found) >= 1,
    )
    assert letter["origin"]["store"] == "actiepunten.dossiercontrole"
    assert "title: too long" in letter["reason"]
