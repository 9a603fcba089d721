"""The services of the system, each named once: the one place the CLI, settings, operations,
``deploy/`` and the tests read them from.

Modules are named by their dotted path, never imported here: servicekit sits below the services,
and the services never import each other.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from shared.events import topics


@dataclass(frozen=True)
class Service:
    """One service: what `actiepunten serve <name>` runs, where it listens, where it
    dead-letters, and (for a service with an event store) the store and what it publishes."""

    name: str
    package: str
    port: int
    dlq: str
    application: str | None = None
    """The `eventsourcing` application class in ``<package>.application`` (None: no event store,
    only a read model)."""
    mails: bool = False
    """Whether it sends e-mail (SMTP settings and the relay's password reach it)."""
    keeps_data_keys: bool = False
    """Whether it keeps the dossiers' data keys (SPEC section 11): every replica must read the
    same key-encryption keys (``ACTIEPUNTEN_KEK_FILE``, the Secret ``actiepunten-kek``)."""

    @property
    def main(self) -> str:
        """The module whose ``main()`` serves it."""
        return f"{self.package}.main"

    @property
    def store(self) -> str | None:
        """The name of its event store (``Settings.eventstore_env``), None without one."""
        return self.name if self.application else None

    def module(self, name: str) -> Any:
        """One of the service's own modules (``kafka``, ``application``...), imported now."""
        return importlib.import_module(f"{self.package}.{name}")


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service("scenario", "services.scenario_service", 8001, topics.SCENARIO_DLQ, "Scenarios"),
        Service(
            "dossiercontrole",
            "services.dossiercontrole_service",
            8002,
            topics.DOSSIERCONTROLE_DLQ,
            "DossierChecks",
            keeps_data_keys=True,
        ),
        # The portal mails sign-in links (SPEC section 8).
        Service("portal", "services.portal_projection", 8003, topics.PORTAL_DLQ, mails=True),
        Service(
            "notification",
            "services.notification_service",
            8004,
            topics.NOTIFICATIONS_DLQ,
            "Notifications",
            mails=True,
        ),
    )
}

STORES: tuple[str, ...] = tuple(name for name, s in SERVICES.items() if s.store)
"""The services with an event store (republish, dossier history)."""
