"""A ceiling on how long psycopg_pool waits before it tries the database again.

psycopg_pool replaces a lost connection in a background worker that retries with a delay that
doubles without a ceiling (1, 2, 4, ... s) until ``reconnect_timeout`` (5 minutes). After an
outage of a minute its next attempt can be a minute away, and every ``getconn`` meanwhile
waits and times out: the database is back and the service still does nothing. The pool has no
setting for it, so the attempt class it uses is replaced, once, by one that stops doubling at
``MOST_DELAY`` seconds. A store that is away costs one connection attempt per pool every few
seconds, no more.
"""

from __future__ import annotations

import psycopg_pool.base
import psycopg_pool.pool

MOST_DELAY = 2.0


class CappedAttempt(psycopg_pool.base.AttemptWithBackoff):
    """psycopg_pool's attempt with backoff, its delay doubling up to ``MOST_DELAY``."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, MOST_DELAY)


def cap_reconnect_delay() -> None:
    """Make every psycopg_pool pool of this process reconnect with ``CappedAttempt``."""
    psycopg_pool.pool.AttemptWithBackoff = CappedAttempt  # type: ignore[misc]
