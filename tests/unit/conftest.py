"""Fixtures of the unit tests: the scenario service on eventsourcing's in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scenario_service.application import Scenarios


@pytest.fixture
def scenarios() -> Iterator[Scenarios]:
    app = Scenarios(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()
