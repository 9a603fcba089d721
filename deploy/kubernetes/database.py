"""The services' PostgreSQL connections and the ``max_connections`` that holds them, for
``generate.py`` and the test that checks every overlay's arithmetic.

A service process opens at most ``POOL_SIZE + MAX_OVERFLOW`` connections for its event store
(eventsourcing's pool: kept open, and opened beyond them under load), plus ``OTHER``: the
relay's lease (a session advisory lock on a connection of its own), the schema check at start,
and the dossier check's blob transfers or the portal's read-model connection.
"""

from __future__ import annotations

from typing import Any

POOL_SIZE = 5
MAX_OVERFLOW = 5
OTHER = 3
PER_POD = POOL_SIZE + MAX_OVERFLOW + OTHER
"""The most connections one pod opens."""
RESERVED = 3 + 10
"""PostgreSQL's superuser_reserved_connections (3), and room for the operator, backups and a
person with psql (10)."""


def pool_env() -> list[dict[str, Any]]:
    return [
        {"name": "ACTIEPUNTEN_POSTGRES_POOL_SIZE", "value": str(POOL_SIZE)},
        {"name": "ACTIEPUNTEN_POSTGRES_MAX_OVERFLOW", "value": str(MAX_OVERFLOW)},
    ]


def connections_needed(pods: int) -> int:
    """``max_connections`` for ``pods`` service pods at once (replicas, and the surge pods of
    a rolling update)."""
    return pods * PER_POD + RESERVED
