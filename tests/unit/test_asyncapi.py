"""A platform team reads each service's /asyncapi.json to see what it writes and what it reads:
the topics it publishes (send) and the topics it consumes (receive), with their events."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from servicekit.services import SERVICES
from servicekit.settings import Settings
from shared.events import contracts as c
from shared.events import topics

CONSUMES = {
    "scenario": {topics.PRODUCTS, topics.APPOINTMENTS, topics.DOCUMENT_LISTS},
    "dossiercontrole": {topics.SCENARIO},
    "portal": {topics.DOSSIERCONTROLE, topics.CLIENTS},
    "notification": {topics.DOSSIERCONTROLE, topics.CLIENTS},
}


def asyncapi_of(name: str, data_dir: Path) -> dict:  # type: ignore[type-arg]
    """The service's document; its lifespan (Kafka) is not started."""
    settings = Settings(
        service=name,
        data_dir=data_dir,
        kafka_bootstrap_servers="unused:9092",
        jwt_secret="a-test-secret-of-at-least-thirty-two-bytes!",
    )
    app = SERVICES[name].module("main").create_app(settings)
    response = TestClient(app).get("/asyncapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _addresses(document: dict, action: str) -> set[str]:  # type: ignore[type-arg]
    channels = document["channels"]
    return {
        channels[operation["channel"]["$ref"].rsplit("/", 1)[1]]["address"]
        for operation in document["operations"].values()
        if operation["action"] == action
    }


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_declares_the_topics_it_consumes(name: str, tmp_path: Path) -> None:
    document = asyncapi_of(name, tmp_path)

    assert _addresses(document, "receive") == CONSUMES[name]
    # ... besides what it publishes: its dead letters, and its events if it has a store.
    assert SERVICES[name].dlq in _addresses(document, "send")


def test_the_consumed_events_are_described_with_their_contracts(tmp_path: Path) -> None:
    document = asyncapi_of("dossiercontrole", tmp_path)

    # The dossier check reads the scenario topic: its document requests are in the schemas.
    assert c.DocumentRequested.__name__ in document["components"]["schemas"]
    assert _addresses(document, "send") >= {topics.DOSSIERCONTROLE}


def test_the_published_events_of_real_needs_lists_are_described(tmp_path: Path) -> None:
    # SPEC section 9: a "not applicable" claim and its decisions are new facts on the topic.
    schemas = asyncapi_of("dossiercontrole", tmp_path)["components"]["schemas"]

    for event in (c.NotApplicableClaimed, c.DocumentWaived, c.NotApplicableRefused):
        assert event.__name__ in schemas
    assert "files" in schemas["DocumentUploadedData"]["properties"]


def test_the_household_fields_are_in_the_published_schemas(tmp_path: Path) -> None:
    """SPEC section 9's fields, generated from the contracts like the rest (optional fields
    within the current dataversions)."""
    schemas = asyncapi_of("scenario", tmp_path)["components"]["schemas"]

    assert set(schemas["Person"]["properties"]) == {"role", "id"}
    assert "person" in schemas["Subject"]["properties"]
    assert {"period", "instructions", "per_person", "periods"} <= set(
        schemas["RequestedItem"]["properties"]
    )
    assert {"period", "instructions"} <= set(schemas["DocumentRequestedData"]["properties"])
    assert "period" not in schemas["DocumentRequestedData"].get("required", [])
