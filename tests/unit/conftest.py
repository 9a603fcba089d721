"""Fixtures of the unit tests: the scenario service and the dossier check on eventsourcing's
in-memory store, the portal's read model in a temp file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.dossiercontrole_service.application import DossierChecks
from services.portal_projection.views import PortalView
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


@pytest.fixture
def view(tmp_path: Path) -> Iterator[PortalView]:
    portal = PortalView(tmp_path / "portal.sqlite")
    yield portal
    portal.close()
