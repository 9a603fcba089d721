"""The service registry (servicekit/services.py) is the one list of services: each service's own
modules agree with what it says there, so nothing else needs to repeat it."""

from __future__ import annotations

import pytest

from actiepunten import cli
from servicekit.services import SERVICES, STORES
from servicekit.settings import Settings


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_what_the_registry_says(name: str) -> None:
    service = SERVICES[name]
    # The service names itself as the registry does, and dead-letters where it says.
    assert name == service.module("settings").SERVICE
    assert service.dlq == service.module("kafka").DLQ
    assert callable(service.module("main").main)
    if service.application:
        assert hasattr(service.module("application"), service.application)


def test_a_service_listens_on_its_registered_port_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, service in SERVICES.items():
        monkeypatch.delenv(f"ACTIEPUNTEN_{name.upper()}_PORT", raising=False)
        assert Settings.from_env(name, require_secret=False).port == service.port


def test_operators_choose_among_the_registered_services(capsys: pytest.CaptureFixture[str]) -> None:
    # republish only offers services with an event store; the portal has a read model only.
    assert STORES == ("scenario", "dossiercontrole", "notification")
    with pytest.raises(SystemExit):
        cli.main(["republish", "portal"])
    assert "invalid choice" in capsys.readouterr().err
