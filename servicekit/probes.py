"""Readiness of a service for Kubernetes' probes (``/readyz``); ``/livez`` needs nothing.

Ready means the service can do its work now: its store answers, its producer was started,
and each consumer is assigned partitions or joining its group. A broker that goes away after
the start does not make a service unready: commands are still stored and the outbox publishes
them when the broker is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol


class ConsumerState(Protocol):
    name: str

    @property
    def state(self) -> str: ...


log = logging.getLogger(__name__)

READY_CONSUMER_STATES = frozenset({"assigned", "joining"})


class Readiness:
    """The checks behind ``/readyz``; each store is asked at most once at a time."""

    def __init__(self, *, store_timeout: float = 3.0) -> None:
        self.store_timeout = store_timeout
        self.producer_started = False
        self.shutting_down = False
        self._stores: dict[str, Callable[[], object]] = {}
        self._consumers: list[ConsumerState] = []
        self._pings: dict[str, asyncio.Task[object]] = {}

    def add_store(self, name: str, ping: Callable[[], object]) -> None:
        """``ping`` is a blocking call that reads from the store (run in a thread)."""
        self._stores[name] = ping

    def add_consumer(self, consumer: ConsumerState) -> None:
        self._consumers.append(consumer)

    async def problems(self) -> dict[str, str]:
        """What keeps the service from being ready, by check; empty when it is ready."""
        problems: dict[str, str] = {}
        if self.shutting_down:
            # Stopping (SIGTERM): the load balancer takes this replica out while it finishes.
            return {"shutdown": "shutting down"}
        if not self.producer_started:
            problems["producer"] = "not started"
        for consumer in self._consumers:
            if consumer.state not in READY_CONSUMER_STATES:
                problems[f"consumer:{consumer.name}"] = consumer.state
        for name, ping in self._stores.items():
            problem = await self._ping(name, ping)
            if problem:
                problems[f"store:{name}"] = problem
        return problems

    async def _ping(self, name: str, ping: Callable[[], object]) -> str | None:
        # A store that is down can take long to fail (the PostgreSQL recorder retries): answer
        # within the deadline, and let the next probe wait for the same question.
        task = self._pings.get(name)
        if task is None:
            task = asyncio.ensure_future(asyncio.to_thread(ping))
            self._pings[name] = task
        done, _ = await asyncio.wait({task}, timeout=self.store_timeout)
        if not done:
            return f"no answer within {self.store_timeout:g} s"
        del self._pings[name]
        error = task.exception()
        if error is None:
            return None
        # The driver's own text may name hosts, users or SQL: it goes to the log, and the
        # probe's answer (seen by anyone who reaches the port) names only the kind of failure.
        log.warning("readiness: store %s failed: %s: %s", name, type(error).__name__, error)
        return f"unavailable ({type(error).__name__})"
