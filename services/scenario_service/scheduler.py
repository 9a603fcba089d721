"""Executes scheduled scenario runs when they fall due, in any number of replicas.

The scheduler follows the application's notification log (which every replica shares through
the store) to know which runs are pending and when. A due run is executed by loading it and
saving its ``Executed`` event; when two replicas race, the store's optimistic concurrency lets
exactly one save win and the other sees the run executed. Runs that fell due while no replica
was running execute on start, because the index is rebuilt from the log.

A run that cannot be executed now (its saves keep conflicting, or the store fails) stays in the
index and is tried again after a pause that doubles up to ``MAX_BACKOFF``, until it executes or
the log says it was executed or cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Gauge

from servicekit import tracing
from servicekit.eventstore import traceparent_of
from services.scenario_service.application import Scenarios

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(seconds=30)

RUNS_SCHEDULED = Gauge("actiepunten_runs_scheduled", "Scenario runs waiting for their moment")
RUNS_EXECUTED = Counter(
    "actiepunten_runs_executed",
    "Scenario runs executed by this process (now, by trigger, when due)",
)


class Scheduler:
    def __init__(self, app: Scenarios, *, tick: float = 0.2) -> None:
        self.app = app
        self.tick = tick
        self.pending: dict[UUID, datetime] = {}
        # The trace of the request that scheduled each run: its execution continues it.
        self.traceparents: dict[UUID, str | None] = {}
        # Runs that failed to execute: how often in a row, and not before when to try again.
        self.failures: dict[UUID, tuple[int, datetime]] = {}
        self.position = 0

    def catch_up(self) -> None:
        """Fold new notifications into the index of pending runs."""
        while True:
            notifications = self.app.recorder.select_notifications(
                self.position, 1000, inclusive_of_start=False
            )
            if not notifications:
                return
            for notification in notifications:
                if ":ScenarioRun." not in notification.topic:
                    continue
                self._apply(self.app.mapper.to_domain_event(notification))
            self.position = notifications[-1].id

    def _apply(self, event: Any) -> None:
        run_id = event.originator_id
        name = type(event).__qualname__
        if name in ("ScenarioRun.Executed", "ScenarioRun.Cancelled"):
            self._forget(run_id)
        elif name in ("ScenarioRun.Scheduled", "ScenarioRun.Rescheduled"):
            self.pending[run_id] = event.execute_at
            self.traceparents[run_id] = traceparent_of(event)

    def execute_due(self, now: datetime) -> int:
        """Execute every pending run whose moment has come; returns how many this call executed."""
        self.catch_up()
        executed = 0
        for run_id, execute_at in sorted(self.pending.items(), key=lambda item: item[1]):
            if execute_at > now:
                break
            failed, retry_at = self.failures.get(run_id, (0, execute_at))
            if retry_at > now:
                continue
            try:
                with tracing.continued("execute scheduled run", self.traceparents.get(run_id)):
                    done = self.app.execute_run(run_id, now)
            except Exception:
                # Saves that keep conflicting, or a store that fails: never drop the run.
                pause = min(timedelta(seconds=self.tick) * 2 ** min(failed, 16), MAX_BACKOFF)
                self.failures[run_id] = (failed + 1, now + pause)
                log.warning(
                    "run %s could not execute (%d in a row); trying again in %s",
                    run_id,
                    failed + 1,
                    pause,
                    exc_info=True,
                )
                continue
            if done:
                executed += 1
                RUNS_EXECUTED.inc()
            self._forget(run_id)
        RUNS_SCHEDULED.set(len(self.pending))
        return executed

    def _forget(self, run_id: UUID) -> None:
        self.pending.pop(run_id, None)
        self.traceparents.pop(run_id, None)
        self.failures.pop(run_id, None)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.execute_due, datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed; trying again")
            await asyncio.sleep(self.tick)
