"""Fixtures of the unit tests: the scenario service and the dossier check on eventsourcing's
in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.dossiercontrole_service.application import DossierChecks
from services.scenario_service.application import Scenarios


@pytest.fixture
def scenarios() -> Iterator[Scenarios]:
    app = Scenarios(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


@pytest.fixture
def checks() -> Iterator[DossierChecks]:
    app = DossierChecks(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()
