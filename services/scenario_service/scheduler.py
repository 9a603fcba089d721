"""Executes scheduled scenario runs when they fall due, in any number of replicas.

The scheduler follows the application's notification log (which every replica shares through
the store) to know which runs are pending and when. A due run is executed by loading it and
saving its ``Executed`` event; when two replicas race, the store's optimistic concurrency lets
exactly one save win and the other sees the run executed. Runs that fell due while no replica
was running execute on start, because the index is rebuilt from the log.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prometheus_client import Counter, Gauge

from services.scenario_service.application import Scenarios

log = logging.getLogger(__name__)

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
            self.pending.pop(run_id, None)
        elif name in ("ScenarioRun.Scheduled", "ScenarioRun.Rescheduled"):
            self.pending[run_id] = event.execute_at

    def execute_due(self, now: datetime) -> int:
        """Execute every pending run whose moment has come; returns how many this call executed."""
        self.catch_up()
        executed = 0
        for run_id, execute_at in sorted(self.pending.items(), key=lambda item: item[1]):
            if execute_at > now:
                break
            if self.app.execute_run(run_id, now):
                executed += 1
                RUNS_EXECUTED.inc()
            self.pending.pop(run_id, None)
        RUNS_SCHEDULED.set(len(self.pending))
        return executed

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.execute_due, datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed; trying again")
            await asyncio.sleep(self.tick)
