"""The scenario service's application: commands load, change and save aggregates; queries read."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, LRUCache
from eventsourcing.persistence import IntegrityError, Tracking

from servicekit.dossier_keys import DossierKeys, KeySource, dossier_keys_for_store
from servicekit.eventstore import retried_on_conflict, stamp_trace
from servicekit.sealing import KeyRing, SealedApplication
from services.scenario_service.domainmodel import APPOINTMENT_SCOPE as APPOINTMENT_SCOPE
from services.scenario_service.domainmodel import (
    Appointment,
    DocumentList,
    DocumentRequest,
    Household,
    RunNotFound,
    RunStatus,
    ScenarioCatalogue,
    ScenarioNotFound,
    ScenarioRun,
    ScopeMismatch,
    Subject,
    UnknownScenario,
    check_trigger,
    execution_moment,
    triggered_moment,
    triggered_run_id,
)

# --- commands: what HTTP, the Kafka handlers and the bench hand to ``Scenarios`` -------------


@dataclass(frozen=True)
class DefineScenario:
    """An admin's scenario: the document types it requests and, optionally, its trigger."""

    tenant: str
    name: str
    scope: str
    items: list[dict[str, Any]]
    trigger: dict[str, Any] | None
    by: str

    def definition(self) -> dict[str, Any]:
        """What the catalogue keeps; refused (``InvalidTrigger``) for a trigger that could
        never start the scenario."""
        check_trigger(self.scope, self.trigger)
        return {
            "name": self.name,
            "scope": self.scope,
            "items": self.items,
            "trigger": self.trigger,
        }


@dataclass(frozen=True)
class ChangeScenario(DefineScenario):
    scenario_id: UUID


@dataclass(frozen=True)
class StartScenarios:
    """An adviser's start of scenarios on a subject; the moment as the adviser gave it
    (``execution_moment``: Europe/Amsterdam dates and times, or an exact moment)."""

    tenant: str
    dossier_id: str
    subject: Subject
    scenario_ids: Sequence[UUID]
    started_by: str
    execute_at: datetime | None = None
    execute_on: date | None = None
    execute_at_time: time | None = None


@dataclass(frozen=True)
class RequestDocument:
    """An adviser's manual request of one document."""

    tenant: str
    dossier_id: str
    subject: Subject
    document_type: str
    title: str | None
    action_point: bool | None
    requested_by: str
    due_at: datetime | None = None  # when the client should have delivered it
    period: str | None = None  # what it covers in time: with subject and type, which document
    instructions: str | None = None  # a note to the client, shown with the action point


@dataclass(frozen=True)
class SetHousehold:
    """The adviser's list of the persons of a dossier (SPEC section 9)."""

    tenant: str
    dossier_id: str
    persons: list[dict[str, Any]]  # {"role", "id"?, "name"}
    by: str


@dataclass(frozen=True)
class ReceiveDocumentList:
    """A document list (stukkenlijst), from an adviser or a platform service."""

    tenant: str
    dossier_id: str
    subject: Subject
    reference: str
    items: list[dict[str, Any]]
    received_from: str
    traceparent: str | None = None  # of its record, when several are saved at once


@dataclass(frozen=True)
class StartTriggered:
    """A platform fact that may start scenarios with a trigger: ``cause`` is its event id;
    ``starts_at`` the appointment's start (None for a product)."""

    tenant: str
    dossier_id: str
    subject: Subject
    trigger_event: str
    cause: str
    starts_at: datetime | None = None


PERSONAL_AGGREGATES = (DocumentRequest, Household, DocumentList)
"""The aggregates that hold a dossier's personal data: an adviser's title and instructions, the
persons' names, a lender's item titles and instructions. Each is sealed with its dossier's key;
the others (catalogue, runs, appointments) hold the office's templates and ids only."""

STORED_PERSONAL = frozenset({"title", "instructions", "name"})
"""The attribute names of those aggregates' stored state whose text is personal (at any depth:
a household person's ``name``, a list item's ``title``)."""

STORED_NOT_PERSONAL = frozenset(
    {
        "_type_", "_data_", "tenant", "dossier_id", "id", "type", "scope", "role", "by",
        "document_type", "requested_by", "due_at", "period", "reference", "received_from",
        "due_in", "periods", "originator_topic", "_traceparent", "action_point",
    }
)  # fmt: skip
"""The other attribute names that hold text in those states (``tests/unit/test_sealing.py``)."""


def holds_personal(aggregate: Any) -> bool:
    return isinstance(aggregate, PERSONAL_AGGREGATES)


class Scenarios(SealedApplication):
    """Scenario catalogue, scenario runs and document requests of every office.

    The personal data of a dossier (``PERSONAL_AGGREGATES``) is stored and published sealed with
    the dossier's data key, which the dossier check keeps and gives (``servicekit.dossier_keys``;
    a store in memory keeps its keys in memory). ``key_source``: where the keys are instead
    (tests)."""

    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "ORIGINATOR_ID_TYPE": "uuid"}
    stored_personal = STORED_PERSONAL
    keys: DossierKeys

    def __init__(
        self, env: dict[str, str] | None = None, key_source: KeySource | None = None
    ) -> None:
        self._key_source = key_source
        super().__init__(env)
        self._read_copies: LRUCache[str, ScenarioCatalogue] = LRUCache(maxsize=1000)
        self._read_copies_lock = threading.Lock()

    def construct_key_ring(self) -> KeyRing:
        return dossier_keys_for_store(
            self.env, holds_personal, name="scenario", source=self._key_source
        )

    def close(self) -> None:
        self.keys.close()
        super().close()

    # --- catalogue (admin) ---------------------------------------------------------------------

    def _catalogue(self, tenant: str) -> ScenarioCatalogue:
        """The office's catalogue, a copy of its own to change and save."""
        catalogue: ScenarioCatalogue = self.office_aggregate(ScenarioCatalogue, tenant)
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

    def define_scenario(self, command: DefineScenario) -> UUID:
        scenario_id = uuid4()
        definition = command.definition()
        self._change_catalogue(
            command.tenant, lambda c: c.define(scenario_id, definition, command.by)
        )
        return scenario_id

    def change_scenario(self, command: ChangeScenario) -> None:
        definition = command.definition()
        self._change_catalogue(
            command.tenant, lambda c: c.change(command.scenario_id, definition, command.by)
        )

    def delete_scenario(self, tenant: str, scenario_id: UUID, by: str) -> None:
        self._change_catalogue(tenant, lambda c: c.delete(scenario_id, by))

    @retried_on_conflict()
    def _change_catalogue(self, tenant: str, change: Callable[[ScenarioCatalogue], None]) -> None:
        """Load the office's catalogue, change it, save it; again if an admin saved first."""
        catalogue = self._catalogue(tenant)
        change(catalogue)
        self.save(catalogue)

    def get_scenarios(self, tenant: str, scope: str | None = None) -> list[dict[str, Any]]:
        return [_own(s) for s in self._scenarios(tenant).scenarios_in(scope)]

    def get_scenario(self, tenant: str, scenario_id: UUID) -> dict[str, Any]:
        return _own(self._scenarios(tenant).get(scenario_id))

    # --- runs (adviser) ------------------------------------------------------------------------

    def start_scenarios(self, command: StartScenarios, now: datetime) -> list[ScenarioRun]:
        """Start several scenarios at once; each due now executes in the same transaction.

        Refused: a moment that cannot be planned (``InvalidMoment``), a scenario the office
        does not have (``UnknownScenario``) or of another scope (``ScopeMismatch``).
        """
        execute_at = execution_moment(
            now,
            execute_at=command.execute_at,
            execute_on=command.execute_on,
            execute_at_time=command.execute_at_time,
        )
        scope = command.subject.scope
        catalogue = self._scenarios(command.tenant)
        runs: list[ScenarioRun] = []
        for scenario_id in command.scenario_ids:
            try:
                scenario = _own(catalogue.get(scenario_id))
            except ScenarioNotFound as error:
                raise UnknownScenario(str(error)) from None
            if scenario["scope"] != scope:
                raise ScopeMismatch(
                    f"scenario {scenario_id} has scope {scenario['scope']!r}, "
                    f"the subject has scope {scope!r}"
                )
            run = self._new_run(uuid4(), command, scenario, execute_at, command.started_by)
            runs.append(self._executed_if_due(run, now))
        self.save(*runs)
        return runs

    # --- households (adviser) ------------------------------------------------------------------

    @retried_on_conflict()
    def set_household(self, command: SetHousehold) -> list[dict[str, Any]]:
        """Record the dossier's persons; refused (``InvalidHousehold``) when two of them cannot
        be told apart. Runs executed from now on ask their per-person items of them."""
        Household.check(command.persons)
        tenant, dossier_id = command.tenant, command.dossier_id
        household = self._household(tenant, dossier_id)
        if household is None:
            household = Household(
                tenant=tenant, dossier_id=dossier_id, persons=command.persons, by=command.by
            )
        else:
            household.change(command.persons, command.by)
        self.save(household)
        return list(household.persons)

    def get_household(self, tenant: str, dossier_id: str) -> list[dict[str, Any]]:
        """The dossier's persons; none when the adviser named nobody (a per-person item then
        asks the applicant)."""
        household = self._household(tenant, dossier_id)
        return [] if household is None else copy.deepcopy(household.persons)

    def _household(self, tenant: str, dossier_id: str) -> Household | None:
        try:
            household: Household = self.get_owned(
                Household.create_id(tenant, dossier_id), tenant=tenant, dossier_id=dossier_id
            )
        except AggregateNotFoundError:
            return None
        return household

    @staticmethod
    def _new_run(
        run_id: UUID,
        start: StartScenarios | StartTriggered,
        scenario: dict[str, Any],
        execute_at: datetime,
        started_by: str,
        cause: str | None = None,
        offset_days: int | None = None,
    ) -> ScenarioRun:
        """A run of ``scenario`` on the start's subject, with a copy of the scenario's items."""
        return ScenarioRun(
            run_id=run_id,
            tenant=start.tenant,
            dossier_id=start.dossier_id,
            subject=start.subject.as_dict(),
            scenario_id=UUID(scenario["scenario_id"]),
            scenario_name=scenario["name"],
            items=[dict(item) for item in scenario["items"]],
            execute_at=execute_at,
            started_by=started_by,
            cause=cause,
            offset_days=offset_days,
        )

    def _executed_if_due(self, run: ScenarioRun, now: datetime) -> ScenarioRun:
        if run.due(now):
            run.execute(now, self.get_household(run.tenant, run.dossier_id))
        return run

    def get_run(self, tenant: str, run_id: UUID) -> ScenarioRun:
        try:
            run: ScenarioRun = self.repository.get(run_id)
        except AggregateNotFoundError:
            raise RunNotFound(f"scenario run {run_id} not found") from None
        if not isinstance(run, ScenarioRun) or run.tenant != tenant:
            raise RunNotFound(f"scenario run {run_id} not found")
        return run

    @retried_on_conflict()
    def cancel_run(self, tenant: str, run_id: UUID, reason: str = "cancelled_by_adviser") -> None:
        """Cancel a scheduled run; raises ``RunAlreadyExecuted`` when the scheduler was first."""
        run = self.get_run(tenant, run_id)
        run.cancel(reason)
        self.save(run)

    @retried_on_conflict(attempts=5)
    def execute_run(self, run_id: UUID, now: datetime) -> bool:
        """Execute a due run; False when it was executed or cancelled already (by any replica),
        or moved later. Raises ``IntegrityError`` when its saves keep conflicting: the scheduler
        keeps the run and tries again later."""
        run: ScenarioRun = self.repository.get(run_id)
        if not run.due(now):
            return False
        run.execute(now, self.get_household(run.tenant, run.dossier_id))
        self.save(run)
        return True

    # --- document requests ---------------------------------------------------------------------

    def request_document(self, command: RequestDocument) -> UUID:
        request = DocumentRequest(
            tenant=command.tenant,
            dossier_id=command.dossier_id,
            subject=command.subject.as_dict(),
            document_type=command.document_type,
            title=command.title,
            action_point=command.action_point,
            requested_by=command.requested_by,
            due_at=command.due_at,
            period=command.period,
            instructions=command.instructions,
        )
        self.save(request)
        return request.id

    def receive_document_list(
        self, command: ReceiveDocumentList, tracking: Tracking | None = None
    ) -> tuple[DocumentList, bool]:
        """Record a document list once per reference; returns it and whether it was new.

        The same list again (dossier, subject and items) is a repeat; another list under a known
        reference raises ``DocumentListConflict``.
        """
        tenant, reference = command.tenant, command.reference
        list_id = DocumentList.create_id(tenant, reference)
        try:
            existing: DocumentList = self.get_owned(list_id, tenant=tenant, reference=reference)
        except AggregateNotFoundError:
            pass
        else:
            existing.check_same(command.dossier_id, command.subject.as_dict(), command.items)
            self.save_tracked(tracking)
            return existing, False
        document_list = DocumentList(
            tenant=tenant,
            reference=reference,
            dossier_id=command.dossier_id,
            subject=command.subject.as_dict(),
            items=command.items,
            received_from=command.received_from,
        )
        try:
            self.save_tracked(tracking, document_list)
        except IntegrityError:
            if tracking is not None:
                raise  # the tracking consumer tells a repeat from a conflict and tries again
            # The same list came in at the same moment by another request: that one made it.
            made: DocumentList = self.get_owned(list_id, tenant=tenant, reference=reference)
            made.check_same(command.dossier_id, command.subject.as_dict(), command.items)
            return made, False
        return document_list, True

    def receive_document_lists(
        self, commands: Sequence[ReceiveDocumentList], tracking: Tracking
    ) -> None:
        """Several document lists (a consumed batch) saved with ``tracking`` in one transaction,
        each as ``receive_document_list`` would; a list it would refuse fails them all."""
        new: dict[UUID, DocumentList] = {}
        for command in commands:
            list_id = DocumentList.create_id(command.tenant, command.reference)
            known = new.get(list_id) or self._stored_list(list_id, command)
            if known is not None:
                known.check_same(command.dossier_id, command.subject.as_dict(), command.items)
                continue
            new[list_id] = DocumentList(
                tenant=command.tenant,
                reference=command.reference,
                dossier_id=command.dossier_id,
                subject=command.subject.as_dict(),
                items=command.items,
                received_from=command.received_from,
            )
            stamp_trace(command.traceparent, new[list_id])
        self.save_tracked(tracking, *new.values())

    def _stored_list(self, list_id: UUID, command: ReceiveDocumentList) -> DocumentList | None:
        try:
            stored: DocumentList = self.get_owned(
                list_id, copy=False, tenant=command.tenant, reference=command.reference
            )
        except AggregateNotFoundError:
            return None
        return stored

    # --- platform triggers ---------------------------------------------------------------------

    def start_triggered(
        self, command: StartTriggered, now: datetime, tracking: Tracking | None
    ) -> list[ScenarioRun]:
        """Start every scenario of the office whose trigger and scope match a platform event.

        A fact starts each scenario once: run ids derive from the office, the subject, the
        trigger and the scenario (``triggered_run_id``), not from the event's id, so the same
        product created twice, or delivered again under a new id, starts nothing new. An
        appointment scheduled again moves its pending runs to the new moment, as a reschedule.
        """
        tenant, subject, starts_at = command.tenant, command.subject, command.starts_at
        known = self._known_appointment(tenant, subject.id) if starts_at is not None else None
        runs = [self._executed_if_due(run, now) for run in self._triggered_runs(command, now)]
        if starts_at is None:
            self.save_tracked(tracking, *runs)
            return runs
        appointment = known or Appointment(
            tenant=tenant,
            appointment_id=subject.id,
            dossier_id=command.dossier_id,
            starts_at=starts_at,
        )
        moved = self._move_appointment(appointment, starts_at, now) if known else []
        if runs:
            appointment.attach_runs([run.id for run in runs])
        self.save_tracked(tracking, appointment, *moved, *runs)
        return runs

    def _triggered_runs(self, command: StartTriggered, now: datetime) -> list[ScenarioRun]:
        """New runs of the scenarios ``command`` triggers that did not run for this fact yet."""
        tenant, trigger_event, starts_at = command.tenant, command.trigger_event, command.starts_at
        runs: list[ScenarioRun] = []
        triggered = self._scenarios(tenant).triggered_by(trigger_event, command.subject.scope)
        for scenario in map(_own, triggered):
            scenario_id = UUID(scenario["scenario_id"])
            run_id = triggered_run_id(scenario_id, tenant, trigger_event, command.subject)
            # Before runs were keyed by the fact, they were keyed by the event's id.
            legacy_id = uuid5(scenario_id, f"{tenant}:{command.cause}")
            if self._run_exists(run_id, tenant) or self._run_exists(legacy_id, tenant):
                continue
            offset_days = (scenario["trigger"] or {}).get("offset_days") or 0
            execute_at = now if starts_at is None else triggered_moment(starts_at, offset_days, now)
            run = self._new_run(
                run_id,
                command,
                scenario,
                execute_at,
                f"trigger:{trigger_event}",
                cause=command.cause,
                offset_days=offset_days if starts_at is not None else None,
            )
            runs.append(run)
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
            if RunStatus(run.status).pending:
                run.cancel("appointment_cancelled")
        self.save_tracked(tracking, appointment, *runs)


def _own(scenario: dict[str, Any]) -> dict[str, Any]:
    """A copy of a scenario of the shared cached catalogue, free to keep and change."""
    return copy.deepcopy(scenario)
