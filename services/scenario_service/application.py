"""The scenario service's application: commands load, change and save aggregates; queries read."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, LRUCache
from eventsourcing.persistence import IntegrityError, Tracking

from servicekit.eventstore import TrackedApplication
from services.scenario_service.domainmodel import (
    Appointment,
    DocumentList,
    DocumentRequest,
    RunNotFound,
    ScenarioCatalogue,
    ScenarioRun,
    ScopeMismatch,
    triggered_moment,
    triggered_run_id,
)

APPOINTMENT_SCOPE = "afspraak"


def _definition(
    name: str, scope: str, items: list[dict[str, Any]], trigger: dict[str, Any] | None
) -> dict[str, Any]:
    return {"name": name, "scope": scope, "items": items, "trigger": trigger}


class Scenarios(TrackedApplication):
    """Scenario catalogue, scenario runs and document requests of every office."""

    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "ORIGINATOR_ID_TYPE": "uuid"}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._read_copies: LRUCache[str, ScenarioCatalogue] = LRUCache(maxsize=1000)
        self._read_copies_lock = threading.Lock()

    # --- catalogue (admin) ---------------------------------------------------------------------

    def _catalogue(self, tenant: str) -> ScenarioCatalogue:
        """The office's catalogue, a copy of its own to change and save."""
        try:
            catalogue: ScenarioCatalogue = self.get_owned(
                ScenarioCatalogue.create_id(tenant), tenant=tenant
            )
        except AggregateNotFoundError:
            catalogue = ScenarioCatalogue(tenant)
        return catalogue

    def _scenarios(self, tenant: str) -> ScenarioCatalogue:
        """The office's catalogue to read from, never to change.

        Every start reads the catalogue, and copying a large one for each was most of a start's
        work. This is a copy made once per version of the catalogue (the repository's cached
        one is only asked for its version) and shared by the readers, who copy what they keep
        of it (``_own``); nothing changes it, as the repository changes its cached one in place.
        """
        try:
            cached: ScenarioCatalogue = self.get_owned(
                ScenarioCatalogue.create_id(tenant), tenant=tenant, copy=False
            )
        except AggregateNotFoundError:
            return ScenarioCatalogue(tenant)
        with self._read_copies_lock:
            try:
                catalogue: ScenarioCatalogue | None = self._read_copies.get(tenant)
            except KeyError:
                catalogue = None
            if catalogue is None or catalogue.version != cached.version:
                catalogue = self._catalogue(tenant)  # a copy of its own, as commands get
                self._read_copies.put(tenant, catalogue)
        return catalogue

    def define_scenario(
        self,
        tenant: str,
        name: str,
        scope: str,
        items: list[dict[str, Any]],
        trigger: dict[str, Any] | None,
        by: str,
    ) -> UUID:
        scenario_id = uuid4()
        definition = _definition(name, scope, items, trigger)
        self._change_catalogue(tenant, lambda c: c.define(scenario_id, definition, by))
        return scenario_id

    def change_scenario(
        self,
        tenant: str,
        scenario_id: UUID,
        name: str,
        scope: str,
        items: list[dict[str, Any]],
        trigger: dict[str, Any] | None,
        by: str,
    ) -> None:
        definition = _definition(name, scope, items, trigger)
        self._change_catalogue(tenant, lambda c: c.change(scenario_id, definition, by))

    def delete_scenario(self, tenant: str, scenario_id: UUID, by: str) -> None:
        self._change_catalogue(tenant, lambda c: c.delete(scenario_id, by))

    def _change_catalogue(self, tenant: str, change: Callable[[ScenarioCatalogue], None]) -> None:
        """Load the office's catalogue, change it, save it; again if an admin saved first."""

        def command() -> None:
            catalogue = self._catalogue(tenant)
            change(catalogue)
            self.save(catalogue)

        self.retry_on_conflict(command)

    def get_scenarios(self, tenant: str, scope: str | None = None) -> list[dict[str, Any]]:
        return [_own(s) for s in self._scenarios(tenant).scenarios_in(scope)]

    def get_scenario(self, tenant: str, scenario_id: UUID) -> dict[str, Any]:
        return _own(self._scenarios(tenant).get(scenario_id))

    # --- runs (adviser) ------------------------------------------------------------------------

    def start_scenarios(
        self,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        scenario_ids: Sequence[UUID],
        execute_at: datetime,
        now: datetime,
        started_by: str,
    ) -> list[ScenarioRun]:
        """Start several scenarios at once; each due now executes in the same transaction."""
        catalogue = self._scenarios(tenant)
        runs: list[ScenarioRun] = []
        for scenario_id in scenario_ids:
            scenario = _own(catalogue.get(scenario_id))
            if scenario["scope"] != subject["scope"]:
                raise ScopeMismatch(
                    f"scenario {scenario_id} has scope {scenario['scope']!r}, "
                    f"the subject has scope {subject['scope']!r}"
                )
            runs.append(
                self._new_run(
                    uuid4(), tenant, dossier_id, subject, scenario, execute_at, now, started_by
                )
            )
        self.save(*runs)
        return runs

    def _new_run(
        self,
        run_id: UUID,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        scenario: dict[str, Any],
        execute_at: datetime,
        now: datetime,
        started_by: str,
        cause: str | None = None,
        offset_days: int | None = None,
    ) -> ScenarioRun:
        run = ScenarioRun(
            run_id=run_id,
            tenant=tenant,
            dossier_id=dossier_id,
            subject=subject,
            scenario_id=UUID(scenario["scenario_id"]),
            scenario_name=scenario["name"],
            items=[dict(item) for item in scenario["items"]],
            execute_at=execute_at,
            started_by=started_by,
            cause=cause,
            offset_days=offset_days,
        )
        if execute_at <= now:
            run.execute(now)
        return run

    def get_run(self, tenant: str, run_id: UUID) -> ScenarioRun:
        try:
            run: ScenarioRun = self.repository.get(run_id)
        except AggregateNotFoundError:
            raise RunNotFound(f"scenario run {run_id} not found") from None
        if not isinstance(run, ScenarioRun) or run.tenant != tenant:
            raise RunNotFound(f"scenario run {run_id} not found")
        return run

    def cancel_run(self, tenant: str, run_id: UUID, reason: str = "cancelled_by_adviser") -> None:
        """Cancel a scheduled run; raises ``RunAlreadyExecuted`` when the scheduler was first."""

        def command() -> None:
            run = self.get_run(tenant, run_id)
            run.cancel(reason)
            self.save(run)

        self.retry_on_conflict(command)

    def execute_run(self, run_id: UUID, now: datetime) -> bool:
        """Execute a due run; False when it was executed or cancelled already (by any replica),
        or moved later. Raises ``IntegrityError`` when its saves keep conflicting: the scheduler
        keeps the run and tries again later."""

        def command() -> bool:
            run: ScenarioRun = self.repository.get(run_id)
            if run.status != "scheduled" or run.execute_at > now:
                return False
            run.execute(now)
            self.save(run)
            return True

        return self.retry_on_conflict(command, attempts=5)

    # --- document requests ---------------------------------------------------------------------

    def request_document(
        self,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        document_type: str,
        title: str | None,
        action_point: bool | None,
        requested_by: str,
    ) -> UUID:
        request = DocumentRequest(
            tenant=tenant,
            dossier_id=dossier_id,
            subject=subject,
            document_type=document_type,
            title=title,
            action_point=action_point,
            requested_by=requested_by,
        )
        self.save(request)
        return request.id

    def receive_document_list(
        self,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        reference: str,
        items: list[dict[str, Any]],
        received_from: str,
        tracking: Tracking | None = None,
    ) -> tuple[DocumentList, bool]:
        """Record a document list once per reference; returns it and whether it was new.

        The same list again (dossier, subject and items) is a repeat; another list under a known
        reference raises ``DocumentListConflict``.
        """
        list_id = DocumentList.create_id(tenant, reference)
        try:
            existing: DocumentList = self.get_owned(list_id, tenant=tenant, reference=reference)
        except AggregateNotFoundError:
            pass
        else:
            existing.check_same(dossier_id, subject, items)
            self.save_tracked(tracking)
            return existing, False
        document_list = DocumentList(
            tenant=tenant,
            reference=reference,
            dossier_id=dossier_id,
            subject=subject,
            items=items,
            received_from=received_from,
        )
        try:
            self.save_tracked(tracking, document_list)
        except IntegrityError:
            if tracking is not None:
                raise  # the tracking consumer tells a repeat from a conflict and tries again
            # The same list came in at the same moment by another request: that one made it.
            made: DocumentList = self.get_owned(list_id, tenant=tenant, reference=reference)
            made.check_same(dossier_id, subject, items)
            return made, False
        return document_list, True

    # --- platform triggers ---------------------------------------------------------------------

    def start_triggered(
        self,
        tenant: str,
        dossier_id: str,
        subject: dict[str, Any],
        trigger_event: str,
        cause: str,
        now: datetime,
        tracking: Tracking | None,
        starts_at: datetime | None = None,
    ) -> list[ScenarioRun]:
        """Start every scenario of the office whose trigger and scope match a platform event.

        A fact starts each scenario once: run ids derive from the office, the subject, the
        trigger and the scenario (``triggered_run_id``), not from the event's id, so the same
        product created twice, or delivered again under a new id, starts nothing new. An
        appointment scheduled again moves its pending runs to the new moment, as a reschedule.
        """
        known = self._known_appointment(tenant, subject["id"]) if starts_at is not None else None
        runs: list[ScenarioRun] = []
        triggered = self._scenarios(tenant).triggered_by(trigger_event, subject["scope"])
        for scenario in map(_own, triggered):
            run_id = triggered_run_id(UUID(scenario["scenario_id"]), tenant, trigger_event, subject)
            # Before runs were keyed by the fact, they were keyed by the event's id.
            legacy_id = uuid5(UUID(scenario["scenario_id"]), f"{tenant}:{cause}")
            if self._run_exists(run_id, tenant) or self._run_exists(legacy_id, tenant):
                continue
            offset_days = (scenario["trigger"] or {}).get("offset_days") or 0
            execute_at = now if starts_at is None else triggered_moment(starts_at, offset_days, now)
            runs.append(
                self._new_run(
                    run_id,
                    tenant,
                    dossier_id,
                    subject,
                    scenario,
                    execute_at,
                    now,
                    f"trigger:{trigger_event}",
                    cause=cause,
                    offset_days=offset_days if starts_at is not None else None,
                )
            )
        if starts_at is None:
            self.save_tracked(tracking, *runs)
            return runs
        appointment = known or Appointment(
            tenant=tenant, appointment_id=subject["id"], dossier_id=dossier_id, starts_at=starts_at
        )
        moved = self._move_appointment(appointment, starts_at, now) if known else []
        if runs:
            appointment.attach_runs([run.id for run in runs])
        self.save_tracked(tracking, appointment, *moved, *runs)
        return runs

    def _run_exists(self, run_id: UUID, tenant: str) -> bool:
        try:
            self.get_owned(run_id, tenant=tenant)
        except AggregateNotFoundError:
            return False
        return True

    def _known_appointment(self, tenant: str, appointment_id: str) -> Appointment | None:
        """An appointment seen before (scheduled with or without runs), or None."""
        try:
            appointment: Appointment = self.get_owned(
                Appointment.create_id(tenant, appointment_id),
                tenant=tenant,
                appointment_id=appointment_id,
            )
        except AggregateNotFoundError:
            return None
        return appointment

    def reschedule_appointment(
        self,
        tenant: str,
        appointment_id: str,
        starts_at: datetime,
        now: datetime,
        tracking: Tracking | None,
    ) -> None:
        """Move the appointment's pending runs with it; executed runs stay as they were."""
        appointment = self._known_appointment(tenant, appointment_id)
        if appointment is None:
            self.save_tracked(tracking)
            return
        runs = self._move_appointment(appointment, starts_at, now)
        self.save_tracked(tracking, appointment, *runs)

    def _move_appointment(
        self, appointment: Appointment, starts_at: datetime, now: datetime
    ) -> list[ScenarioRun]:
        """Move the appointment and its pending runs; returns the runs to save with it."""
        if starts_at != appointment.starts_at:
            appointment.reschedule(starts_at)
        runs: list[ScenarioRun] = [
            self.get_owned(r, tenant=appointment.tenant) for r in appointment.run_ids
        ]
        for run in runs:
            run.reschedule(triggered_moment(starts_at, run.offset_days or 0, now))
        return runs

    def cancel_appointment(
        self, tenant: str, appointment_id: str, tracking: Tracking | None
    ) -> None:
        appointment = self._known_appointment(tenant, appointment_id)
        if appointment is None:
            self.save_tracked(tracking)
            return
        if not appointment.cancelled:
            appointment.cancel()
        runs: list[ScenarioRun] = [self.get_owned(r, tenant=tenant) for r in appointment.run_ids]
        for run in runs:
            if run.status == "scheduled":
                run.cancel("appointment_cancelled")
        self.save_tracked(tracking, appointment, *runs)


def _own(scenario: dict[str, Any]) -> dict[str, Any]:
    """A copy of a scenario of the shared cached catalogue, free to keep and change."""
    return copy.deepcopy(scenario)
