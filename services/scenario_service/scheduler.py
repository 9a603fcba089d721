"""Executes scheduled scenario runs when they fall due, in any number of replicas.

The generic piece is ``servicekit.scheduler``: here are what it reads from the log (a run's
moment from ``Scheduled``/``Rescheduled``; ``Executed``/``Cancelled`` end its wait) and its
action, ``Scenarios.execute_run``: it loads the run, checks it is still due, and saves its
``Executed`` event; when two replicas race, the store's optimistic concurrency lets exactly one
save win and the other sees the run executed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prometheus_client import Counter, Gauge

from servicekit import scheduler
from servicekit.eventstore import traceparent_of
from services.scenario_service.application import Scenarios

MAX_BACKOFF = timedelta(seconds=30)

RUNS_SCHEDULED = Gauge("actiepunten_runs_scheduled", "Scenario runs waiting for their moment")
RUNS_EXECUTED = Counter(
    "actiepunten_runs_executed",
    "Scenario runs executed by this process (now, by trigger, when due)",
)


def run_moment(event: Any) -> scheduler.Due | scheduler.Gone | None:
    """What a stored event of a run means for the timetable."""
    name = type(event).__qualname__
    if name in ("ScenarioRun.Executed", "ScenarioRun.Cancelled"):
        return scheduler.Gone(event.originator_id)
    if name in ("ScenarioRun.Scheduled", "ScenarioRun.Rescheduled"):
        return scheduler.Due(event.originator_id, event.execute_at, traceparent_of(event))
    return None


class RunScheduler(scheduler.Scheduler):
    """The scenario runs' scheduler: the generic one over the runs' timetable."""

    def __init__(self, app: Scenarios, *, tick: float = 0.2) -> None:
        self.app = app
        self.runs = scheduler.LoggedTimetable(app, run_moment, topic_part=":ScenarioRun.")
        super().__init__(
            self.runs,
            self._execute,
            span="execute scheduled run",
            tick=tick,
            max_backoff=MAX_BACKOFF,
            done=RUNS_EXECUTED,
            waiting=RUNS_SCHEDULED,
        )

    def _execute(self, due: scheduler.Due, now: datetime) -> bool:
        return self.app.execute_run(cast(UUID, due.key), now)

    @property
    def pending(self) -> dict[Any, scheduler.Due]:
        """The runs waiting for their moment, by run id."""
        return self.runs.pending

    def catch_up(self) -> None:
        self.runs.refresh()

    def execute_due(self, now: datetime) -> int:
        """Execute every pending run whose moment has come; returns how many this call executed."""
        return self.run_due(now)
